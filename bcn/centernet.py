"""What every bcn detector outputs: the three CenterNet heads, by name and in this order, at one stride.

`heatmap` (H, W, C) class probabilities, `size` (H, W, 2) box width and height in grid
cells, `offset` (H, W, 2) sub-cell centre offset; a grid cell is OUTPUT_STRIDE input
pixels. The model builder names its outputs so, training targets and decoding use the
stride, and conversion records both in the flatbuffer's metadata for the runtime.
"""

HEADS = ("heatmap", "size", "offset")
OUTPUT_STRIDE = 4
