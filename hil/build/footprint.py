"""Footprint of a firmware image, read from the ELF: flash, static RAM, per section, biggest symbols."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from hil.board_description import BoardDescription


@dataclass(frozen=True)
class SectionFootprint:
    """An allocated section: where it lives, how big, whether it takes flash (has contents)."""

    name: str
    address: int
    size: int
    region: str
    in_flash_image: bool


@dataclass(frozen=True)
class SymbolFootprint:
    name: str
    address: int
    size: int
    region: str
    kind: str


@dataclass(frozen=True)
class FootprintReport:
    """What an image takes of each memory region of its board."""

    board: str
    elf: str
    flash_bytes: int
    ram_bytes: int
    ccm_bytes: int
    region_limits: dict[str, int]
    sections: tuple[SectionFootprint, ...]
    biggest_symbols: tuple[SymbolFootprint, ...]
    arena_bytes: int = 0  # the `arena` symbol: the model's tensors
    ram_budget_bytes: int = 0  # the board's RAM budget (RAM and CCM together)

    def section_bytes(self, name: str) -> int:
        return sum(s.size for s in self.sections if s.name == name)

    def ram_breakdown(self, budget: int | None = None) -> dict[str, int]:
        """Everything reserved in RAM and CCM at link time, by what it is for, against a budget: the arena, the
        stack reservation (.stack), the transport's link buffers (.ccm_bss, where the application puts them) and
        the other static data (.data, .bss less the arena). budget: the board's unless given."""
        stack = self.section_bytes(".stack")
        link = self.section_bytes(".ccm_bss")
        return {
            "arena_bytes": self.arena_bytes,
            "stack_reservation_bytes": stack,
            "link_buffer_bytes": link,
            "other_static_bytes": self.static_ram_bytes - self.arena_bytes - stack - link,
            "total_bytes": self.static_ram_bytes,
            "budget_bytes": self.ram_budget_bytes if budget is None else budget,
        }

    @property
    def static_ram_bytes(self) -> int:
        """Everything in RAM and CCM that is reserved at link time, the stack included."""
        return self.ram_bytes + self.ccm_bytes

    def region_bytes(self, region: str) -> int:
        return {"FLASH": self.flash_bytes, "RAM": self.ram_bytes, "CCM": self.ccm_bytes}[region]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["static_ram_bytes"] = self.static_ram_bytes
        data["ram_breakdown"] = self.ram_breakdown()
        return data

    def summary(self) -> str:
        """A few lines a person reads: each region used against its size, then the biggest symbols."""
        lines = [f"footprint of {self.elf} ({self.board}):"]
        for region, limit in self.region_limits.items():
            used = self.region_bytes(region)
            lines.append(f"  {region:<5} {used:>9,} B of {limit:>9,} B ({100.0 * used / limit:5.1f} %)")
        ram = self.ram_breakdown()
        lines.append(
            f"  RAM+CCM {ram['total_bytes']:,} B = arena {ram['arena_bytes']:,} + stack reservation "
            f"{ram['stack_reservation_bytes']:,} + link buffers {ram['link_buffer_bytes']:,} + other static "
            f"{ram['other_static_bytes']:,}; budget {ram['budget_bytes']:,} B"
        )
        lines.append("  biggest symbols:")
        lines += [f"    {s.size:>9,} B  {s.region:<5} {s.name}" for s in self.biggest_symbols[:8]]
        return "\n".join(lines)


def read_footprint(elf_path: Path, board: BoardDescription, top_symbols: int = 20) -> FootprintReport:
    """Sums the ELF's allocated sections by the board region their address falls in."""
    sections: list[SectionFootprint] = []
    symbols: list[SymbolFootprint] = []
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        for section in elf.iter_sections():
            if not section["sh_flags"] & SH_FLAGS.SHF_ALLOC or section["sh_size"] == 0:
                continue
            region = board.region_of(section["sh_addr"])
            sections.append(
                SectionFootprint(
                    name=section.name,
                    address=section["sh_addr"],
                    size=section["sh_size"],
                    region=region.name if region else "?",
                    in_flash_image=section["sh_type"] != "SHT_NOBITS",
                )
            )
        symtab = elf.get_section_by_name(".symtab")
        if isinstance(symtab, SymbolTableSection):
            for sym in symtab.iter_symbols():
                kind = sym["st_info"]["type"]
                if kind not in ("STT_FUNC", "STT_OBJECT") or sym["st_size"] == 0:
                    continue
                address = sym["st_value"] & ~1 if kind == "STT_FUNC" else sym["st_value"]
                region = board.region_of(address)
                symbols.append(
                    SymbolFootprint(sym.name, address, sym["st_size"], region.name if region else "?", kind[4:].lower())
                )
    # Every section with contents is stored in flash: .data's initial values are copied from there at reset.
    flash = sum(s.size for s in sections if s.in_flash_image)
    ram = sum(s.size for s in sections if s.region == "RAM")
    ccm = sum(s.size for s in sections if s.region == "CCM")
    symbols.sort(key=lambda s: s.size, reverse=True)
    return FootprintReport(
        board=board.name,
        elf=str(elf_path),
        flash_bytes=flash,
        ram_bytes=ram,
        ccm_bytes=ccm,
        region_limits={name: region.size for name, region in board.memory.items()},
        sections=tuple(sections),
        biggest_symbols=tuple(symbols[:top_symbols]),
        arena_bytes=sum(s.size for s in symbols if s.name == "arena" and s.kind == "object"),
        ram_budget_bytes=board.ram_budget,
    )
