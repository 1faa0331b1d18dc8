"""C helpers the generated model.c includes when it uses them: data moves (replicate pad, channel copies,
channel max), the row-streamed MBConv block and the row windows of a streamed front. Plain C99, no state; each is
emitted verbatim."""

from __future__ import annotations

PAD_REPLICATE = """
/* Edge (replicate) padding of an NHWC map of pixel_bytes-byte pixels (channels x element size: int8 or int16):
 * out pixel (y, x) copies in pixel (clamp(y - top), clamp(x - left)). */
static void gen_pad_replicate(const int8_t *in, int32_t h, int32_t w, int32_t pixel_bytes, int32_t top, int32_t left,
                              int32_t out_h, int32_t out_w, int8_t *out)
{
    for (int32_t y = 0; y < out_h; ++y) {
        const int32_t sy = hil_clamp(y - top, 0, h - 1);
        for (int32_t x = 0; x < out_w; ++x) {
            const int32_t sx = hil_clamp(x - left, 0, w - 1);
            memcpy(out + (y * out_w + x) * pixel_bytes, in + (sy * w + sx) * pixel_bytes, (size_t)pixel_bytes);
        }
    }
}
"""

PAD_EDGES = """
/* Replicate padding in place: the map's h x w pixels (pixel_bytes each) sit in the top-left corner of an
 * out_h x out_w layout (its producer wrote them there); the columns right of them and the rows below copy the
 * nearest edge pixel. */
static void gen_pad_edges(int8_t *map, int32_t h, int32_t w, int32_t pixel_bytes, int32_t out_h, int32_t out_w)
{
    const int32_t row = out_w * pixel_bytes;
    for (int32_t y = 0; y < h; ++y) {
        for (int32_t x = w; x < out_w; ++x) {
            memcpy(map + y * row + x * pixel_bytes, map + y * row + (w - 1) * pixel_bytes, (size_t)pixel_bytes);
        }
    }
    for (int32_t y = h; y < out_h; ++y) {
        memcpy(map + y * row, map + (h - 1) * row, (size_t)row);
    }
}
"""

COPY_CHANNELS = """
/* count bytes from byte in_start of every pixel of in (in_c bytes a pixel) to byte out_start of the same pixel of
 * out (slices, concats); channels of either width are whole bytes, so one copy serves int8 and int16 maps. */
static void gen_copy_channel_bytes(const int8_t *in, int32_t pixels, int32_t in_c, int32_t in_start, int32_t count,
                                   int8_t *out, int32_t out_c, int32_t out_start)
{
    for (int32_t p = 0; p < pixels; ++p) {
        memcpy(out + p * out_c + out_start, in + p * in_c + in_start, (size_t)count);
    }
}
"""


UPSAMPLE_NEAREST = """
/* Nearest upsampling by whole factors: every input pixel (c channels of element bytes: int8 or int16) copied into a
 * factor_h x factor_w block; each output row is built once, then copied factor_h - 1 times. */
static void gen_upsample_nearest(const int8_t *in, int32_t n, int32_t h, int32_t w, int32_t c, int32_t element,
                                 int32_t factor_h, int32_t factor_w, int8_t *out)
{
    const int32_t pixel = c * element, out_row = w * factor_w * pixel;
    for (int32_t r = 0; r < n * h; ++r) {
        int8_t *first = out + r * factor_h * out_row;
        for (int32_t x = 0; x < w * factor_w; ++x) {
            memcpy(first + x * pixel, in + (r * w + x / factor_w) * pixel, (size_t)pixel);
        }
        for (int32_t k = 1; k < factor_h; ++k) {
            memcpy(first + k * out_row, first, (size_t)out_row);
        }
    }
}
"""


INSERT_ZEROS = """
/* A transposed convolution's input: factor_h - 1 zero rows and factor_w - 1 zero pixels between the input's (c
 * channels of element bytes); out is ((h - 1) * factor_h + 1) x ((w - 1) * factor_w + 1) pixels a map. */
static void gen_insert_zeros(const int8_t *in, int32_t n, int32_t h, int32_t w, int32_t c, int32_t element,
                             int32_t factor_h, int32_t factor_w, int8_t *out)
{
    const int32_t pixel = c * element, out_h = (h - 1) * factor_h + 1, out_w = (w - 1) * factor_w + 1;
    memset(out, 0, (size_t)(n * out_h * out_w * pixel));
    for (int32_t b = 0; b < n; ++b) {
        for (int32_t y = 0; y < h; ++y) {
            for (int32_t x = 0; x < w; ++x) {
                memcpy(out + ((b * out_h + y * factor_h) * out_w + x * factor_w) * pixel,
                       in + ((b * h + y) * w + x) * pixel, (size_t)pixel);
            }
        }
    }
}
"""


DEPTH_TO_SPACE = """
/* Every pixel's c channels (element bytes each) as a factor_h x factor_w block of c / (factor_h * factor_w)
 * channels: channel k * factor_h * factor_w + i * factor_w + j goes to channel k of block pixel (i, j), the order
 * of torch.pixel_shuffle, so a transposed convolution whose kernel equals its stride is a 1x1 convolution then this. */
static void gen_depth_to_space(const int8_t *in, int32_t n, int32_t h, int32_t w, int32_t c, int32_t element,
                               int32_t factor_h, int32_t factor_w, int8_t *out)
{
    const int32_t block = factor_h * factor_w, c_out = c / block;
    for (int32_t r = 0; r < n * h; ++r) {
        for (int32_t x = 0; x < w; ++x) {
            const int8_t *pixel = in + (r * w + x) * c * element;
            for (int32_t i = 0; i < factor_h; ++i) {
                for (int32_t j = 0; j < factor_w; ++j) {
                    int8_t *target = out + (((r * factor_h + i) * w + x) * factor_w + j) * c_out * element;
                    for (int32_t k = 0; k < c_out; ++k) {
                        memcpy(target + k * element, pixel + (k * block + i * factor_w + j) * element,
                               (size_t)element);
                    }
                }
            }
        }
    }
}
"""


SPACE_TO_DEPTH = """
/* Every factor_h x factor_w block of pixels (c channels, element bytes each) as one pixel of c * factor_h *
 * factor_w channels: block pixel (i, j)'s channel k goes to channel k * factor_h * factor_w + i * factor_w + j, the
 * order of torch.pixel_unshuffle (gen_depth_to_space's inverse). h and w are the input's. */
static void gen_space_to_depth(const int8_t *in, int32_t n, int32_t h, int32_t w, int32_t c, int32_t element,
                               int32_t factor_h, int32_t factor_w, int8_t *out)
{
    const int32_t block = factor_h * factor_w, w_out = w / factor_w;
    for (int32_t r = 0; r < n * h; ++r) {
        const int32_t y = r / factor_h, i = r % factor_h;
        for (int32_t x = 0; x < w; ++x) {
            const int8_t *pixel = in + (r * w + x) * c * element;
            int8_t *target = out + (y * w_out + x / factor_w) * c * block * element;
            const int32_t lane = i * factor_w + x % factor_w;
            for (int32_t k = 0; k < c; ++k) {
                memcpy(target + (k * block + lane) * element, pixel + k * element, (size_t)element);
            }
        }
    }
}
"""


def channel_max(bits: int) -> str:
    """gen_channel_max_s8 or _s16 (a detector's scores widened by the bit-width search): one C body for both."""
    ctype, suffix = f"int{bits}_t", f"s{bits}"
    return f"""
/* The maximum over the c channels of every pixel: one channel out. */
static void gen_channel_max_{suffix}(const {ctype} *in, int32_t pixels, int32_t c, {ctype} *out)
{{
    for (int32_t p = 0; p < pixels; ++p) {{
        {ctype} m = in[p * c];
        for (int32_t i = 1; i < c; ++i) {{
            m = in[p * c + i] > m ? in[p * c + i] : m;
        }}
        out[p] = m;
    }}
}}
"""


L2NORM_CONV = """
/* An L2Norm streamed into the convolution that reads it: rows holds the normalised rows the convolution's window
 * needs (kernel height rows, kept in order and shifted down as the window moves), so the normalised map never
 * exists whole. Same kernel calls, so the same integers, as layer by layer. The convolution is conv2d_s8 (conv),
 * or conv2d_a16 (wide, an int16 output) when conv is NULL. */
static hil_kernel_status gen_l2norm_conv_s8(const hil_l2norm_params *norm, const int16_t *gamma,
                                            const hil_conv_params *conv, const hil_conv_a16_params *wide,
                                            const int8_t *out_shift, const hil_dims *in_dims, const int8_t *x,
                                            const hil_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                                            const hil_dims *out_dims, void *y, int8_t *rows)
{
    const int32_t h = in_dims->h, row = in_dims->w * in_dims->c;
    const int32_t row_bytes = out_dims->w * out_dims->c * (conv ? 1 : wide->out_bits / 8);
    const int32_t k_h = filter_dims->h, s_h = conv ? conv->stride_h : wide->stride_h;
    const int32_t p_h = conv ? conv->pad_h : wide->pad_h;
    const hil_dims x_row = {1, 1, in_dims->w, in_dims->c};
    const hil_dims y_row = {1, 1, out_dims->w, out_dims->c};
    int32_t first = 0; /* the normalised row in rows[0] */
    int32_t next = 0;  /* the next input row to normalise */
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
        const int32_t top = oy * s_h - p_h;
        const int32_t lo = top < 0 ? 0 : top;
        const int32_t hi = top + k_h < h ? top + k_h : h;
        if (next <= lo) {
            first = next = lo; /* nothing held is needed again */
        } else if (lo > first) {
            memmove(rows, rows + (lo - first) * row, (size_t)((next - lo) * row));
            first = lo;
        }
        for (; next < hi; ++next) {
            const hil_kernel_status s = l2norm_s8(norm, &x_row, x + next * row, gamma, rows + (next - first) * row);
            if (s != HIL_KERNEL_OK) {
                return s;
            }
        }
        const hil_dims window = {1, hi - lo, in_dims->w, in_dims->c};
        int8_t *y_at = (int8_t *)y + oy * row_bytes;
        hil_kernel_status s;
        if (conv) {
            hil_conv_params window_conv = *conv;
            window_conv.pad_h = lo - top;
            s = conv2d_s8(&window_conv, out_shift, &window, rows, filter_dims, filter, bias, &y_row, y_at);
        } else {
            hil_conv_a16_params window_conv = *wide;
            window_conv.pad_h = lo - top;
            s = conv2d_a16(&window_conv, out_shift, &window, rows, filter_dims, filter, bias, &y_row, y_at);
        }
        if (s != HIL_KERNEL_OK) {
            return s;
        }
    }
    return HIL_KERNEL_OK;
}
"""

MBCONV_ROWS = """
/* An MBConv block: 1x1 expand, depthwise, 1x1 project, optional residual add, as separate kernel calls with
 * the same integer arithmetic as layer by layer. */
typedef struct {
    hil_dims in_dims;
    hil_dims out_dims;
    int32_t hidden;
    hil_conv_params expand;         /* each stage's strides, padding and clamp (in its output's range) */
    hil_conv_params depthwise;
    hil_conv_params project;
    hil_dims expand_filter_dims;
    hil_dims depthwise_filter_dims;
    hil_dims project_filter_dims;
    const void *expand_filter;      /* int8, or int16 (weight_bits) */
    const int32_t *expand_bias;
    const int8_t *expand_shift;     /* the layers' out_shift arrays: one shift per output channel */
    const int8_t *depthwise_filter;
    const int32_t *depthwise_bias;
    const int8_t *depthwise_shift;
    const void *project_filter;
    const int32_t *project_bias;
    const int8_t *project_shift;
    int32_t residual;  /* 0: none; 1: add(x, project); 2: add(project, x): the add's operand order */
    hil_add_a16_params add; /* its widths: the operands' and the block output's (all int8 runs add_s8) */
    int32_t bits[4];   /* widths (8 or 16) of the input, expanded, depthwise and projected rows */
    int32_t weight_bits[2]; /* the expansion's and the projection's weights: 8, or 16 (conv2d_a16_w16) */
} gen_mbconv;

/* One stage of a block: its int8 kernel when its rows and weights are int8, else conv2d_a16_w16 (int16 weights),
 * conv2d_a16 or depthwise_conv2d_a16 at their widths (the bit-width search widened them). */
static hil_kernel_status gen_mbconv_stage(int32_t depthwise, const hil_conv_params *p, int32_t in_bits,
                                          int32_t out_bits, int32_t weight_bits, const int8_t *shift,
                                          const hil_dims *x_dims, const int8_t *x, const hil_dims *f_dims,
                                          const void *f, const int32_t *bias, const hil_dims *y_dims, int8_t *y)
{
    if (in_bits == 8 && out_bits == 8 && weight_bits == 8) {
        return depthwise ? depthwise_conv2d_s8(p, shift, x_dims, x, f_dims, f, bias, y_dims, y)
                         : pointwise_conv2d_s8(p, shift, x_dims, x, f_dims, f, bias, y_dims, y);
    }
    const hil_conv_a16_params wide = {p->stride_h, p->stride_w, p->pad_h,   p->pad_w,
                                      p->act_min,  p->act_max,  in_bits, out_bits};
    if (weight_bits == 16) {
        return conv2d_a16_w16(&wide, shift, x_dims, x, f_dims, f, bias, y_dims, y);
    }
    return depthwise ? depthwise_conv2d_a16(&wide, shift, x_dims, x, f_dims, f, bias, y_dims, y)
                     : conv2d_a16(&wide, shift, x_dims, x, f_dims, f, bias, y_dims, y);
}

/* Row `row` of a block's input map (its bytes at bits[0]): a pointer valid until the next call, or NULL when it
 * cannot be had. */
typedef const int8_t *(*gen_row_source)(void *state, int32_t row);

/* Streams the block by output rows: rows holds the expanded input rows the depthwise window needs (kernel
 * height rows, kept in order and shifted down as the window moves), so the expanded map never exists whole.
 * dw_row holds one depthwise output row; project_row one projected row before the residual add. Each input row is
 * asked of source once, when it is expanded (and again for a residual add). */
static hil_kernel_status gen_mbconv_rows_s8(const gen_mbconv *b, gen_row_source source, void *state, int8_t *y,
                                            int8_t *rows, int8_t *dw_row, int8_t *project_row)
{
    const int32_t h = b->in_dims.h, w = b->in_dims.w, ch = b->hidden;
    const int32_t out_bits = b->residual ? b->add.out_bits : b->bits[3];
    const int32_t row_hidden = w * ch * (b->bits[1] / 8), row_out = b->out_dims.w * b->out_dims.c * (out_bits / 8);
    const int32_t k_h = b->depthwise_filter_dims.h, s_h = b->depthwise.stride_h, p_h = b->depthwise.pad_h;
    const hil_dims x_row = {1, 1, w, b->in_dims.c};
    const hil_dims hidden_row = {1, 1, w, ch};
    const hil_dims dw_dims = {1, 1, b->out_dims.w, ch};
    const hil_dims y_row = {1, 1, b->out_dims.w, b->out_dims.c};
    int32_t first = 0; /* the expanded row in rows[0] */
    int32_t next = 0;  /* the next input row to expand */
    for (int32_t oy = 0; oy < b->out_dims.h; ++oy) {
        const int32_t top = oy * s_h - p_h;
        const int32_t lo = top < 0 ? 0 : top;
        const int32_t hi = top + k_h < h ? top + k_h : h;
        if (next <= lo) {
            first = next = lo; /* nothing held is needed again */
        } else if (lo > first) {
            memmove(rows, rows + (lo - first) * row_hidden, (size_t)((next - lo) * row_hidden));
            first = lo;
        }
        for (; next < hi; ++next) {
            const int8_t *x = source(state, next);
            if (x == NULL) {
                return HIL_KERNEL_ARG_ERROR;
            }
            int8_t *hidden = rows + (next - first) * row_hidden;
            const hil_kernel_status s =
                gen_mbconv_stage(0, &b->expand, b->bits[0], b->bits[1], b->weight_bits[0], b->expand_shift, &x_row, x,
                                 &b->expand_filter_dims, b->expand_filter, b->expand_bias, &hidden_row, hidden);
            if (s != HIL_KERNEL_OK) {
                return s;
            }
        }
        hil_conv_params dw = b->depthwise;
        dw.pad_h = lo - top;
        const hil_dims window = {1, hi - lo, w, ch};
        hil_kernel_status s = gen_mbconv_stage(1, &dw, b->bits[1], b->bits[2], 8, b->depthwise_shift, &window,
                                               rows, &b->depthwise_filter_dims, b->depthwise_filter,
                                               b->depthwise_bias, &dw_dims, dw_row);
        int8_t *out = y + oy * row_out;
        if (s == HIL_KERNEL_OK) {
            s = gen_mbconv_stage(0, &b->project, b->bits[2], b->bits[3], b->weight_bits[1], b->project_shift,
                                 &dw_dims, dw_row, &b->project_filter_dims, b->project_filter, b->project_bias,
                                 &y_row, b->residual ? project_row : out);
        }
        if (s == HIL_KERNEL_OK && b->residual) {
            const int8_t *x = source(state, oy);
            if (x == NULL) {
                return HIL_KERNEL_ARG_ERROR;
            }
            s = b->residual == 1 ? add_a16(&b->add, &y_row, x, project_row, out)
                                 : add_a16(&b->add, &y_row, project_row, x, out);
        }
        if (s != HIL_KERNEL_OK) {
            return s;
        }
    }
    return HIL_KERNEL_OK;
}
"""

MBCONV = """
/* The block over a map held whole in the arena (gen_mbconv_rows_s8 with its rows as the source). */
typedef struct {
    const int8_t *x;
    int32_t row_bytes;
} gen_map;

static const int8_t *gen_map_row(void *state, int32_t row)
{
    const gen_map *map = (const gen_map *)state;
    return map->x + row * map->row_bytes;
}

static hil_kernel_status gen_mbconv_s8(const gen_mbconv *b, const int8_t *x, int8_t *y, int8_t *rows, int8_t *dw_row,
                                       int8_t *project_row)
{
    gen_map map = {x, b->in_dims.w * b->in_dims.c * (b->bits[0] / 8)};
    return gen_mbconv_rows_s8(b, gen_map_row, &map, y, rows, dw_row, project_row);
}
"""

WINDOW = """
/* A window of consecutive rows of a map no one holds whole (a streamed front's stage): rows first .. next - 1, in
 * order from rows[0]. A reader asking for rows [lo, hi) first drops those below lo (gen_window_drop), then has
 * rows made up to hi, each at gen_window_row (gen_window_made after each: a row below lo is dropped at once). */
typedef struct {
    int8_t *rows;
    int32_t row_bytes;
    int32_t first;
    int32_t next;
} gen_window;

static int8_t *gen_window_row(const gen_window *w, int32_t row)
{
    return w->rows + (row - w->first) * w->row_bytes;
}

static void gen_window_drop(gen_window *w, int32_t lo)
{
    if (lo <= w->first) {
        return;
    }
    if (w->next > lo) {
        memmove(w->rows, w->rows + (lo - w->first) * w->row_bytes, (size_t)((w->next - lo) * w->row_bytes));
        w->first = lo;
    } else {
        w->first = w->next; /* none held is needed: the next row made goes to rows[0] */
    }
}

static void gen_window_made(gen_window *w, int32_t lo)
{
    ++w->next;
    if (w->next <= lo) {
        w->first = w->next;
    }
}
"""
