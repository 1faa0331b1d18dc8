"""Each params record is declared once (hil.kernels_ref.params, @c_struct): the C header's typedef, the ctypes
structure and the emitted initialiser all follow that one declaration."""

from __future__ import annotations

import ctypes
import re

import pytest

from hil.host_build.compiler import KERNELS_DIR
from hil.host_build.kernels import _struct, ctypes_struct
from hil.kernels_ref import params as declared
from hil.kernels_ref.params import C_STRUCTS, c_declaration, c_initializer

TYPEDEF = re.compile(r"typedef struct \{(?P<body>[^}]*)\}\s*(?P<name>\w+);")
FIELD = re.compile(r"^\s*(?P<type>[\w ]+?\*?)\s*(?P<name>\w+);", re.MULTILINE)


def header_structs() -> dict[str, list[tuple[str, str]]]:
    """typedef name -> (C type, field name) of every struct hil_kernels.h declares (comments dropped)."""
    text = re.sub(r"/\*.*?\*/", "", (KERNELS_DIR / "hil_kernels.h").read_text(), flags=re.DOTALL)
    return {
        m["name"]: [(f["type"].strip(), f["name"]) for f in FIELD.finditer(m["body"])] for m in TYPEDEF.finditer(text)
    }


@pytest.mark.parametrize("record_type", list(C_STRUCTS), ids=lambda t: t.__name__)
def test_header_declares_the_record(record_type: type) -> None:
    structs = header_structs()
    name = C_STRUCTS[record_type]
    assert name in structs, f"hil_kernels.h has no typedef {name}"
    assert structs[name] == c_declaration(record_type)


@pytest.mark.parametrize("record_type", list(C_STRUCTS), ids=lambda t: t.__name__)
def test_ctypes_layout_follows_the_declaration(record_type: type) -> None:
    ctype = ctypes_struct(record_type)
    assert [name for name, _ in ctype._fields_] == [name for _, name in c_declaration(record_type)]
    sizes = {"int32_t": 4, **{C_STRUCTS[t]: ctypes.sizeof(ctypes_struct(t)) for t in C_STRUCTS}}
    assert ctypes.sizeof(ctype) == sum(sizes[c_type] for c_type, _ in c_declaration(record_type))


def test_initializer_and_ctypes_carry_the_same_values() -> None:
    cell = declared.FastGRNNParams(1, 2, 3, 4, 5, 6)
    record = declared.RNNPoolParams(8, 7, cell, cell, 9, -100, 100, 16)
    assert c_initializer(record) == "{8, 7, {1, 2, 3, 4, 5, 6}, {1, 2, 3, 4, 5, 6}, 9, -100, 100, 16}"
    c = _struct(record)
    assert (c.patch_w, c.rnn2.nu_q15, c.act_min, c.out_bits) == (7, 6, -100, 16)


def test_a_renamed_field_is_caught() -> None:
    structs = header_structs()
    structs["hil_pool_params"][0] = ("int32_t", "kh")
    assert structs["hil_pool_params"] != c_declaration(declared.PoolParams)
