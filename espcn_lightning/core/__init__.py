"""The super-resolution core: the network, resizing and degradations, colour, metrics, images and
tiling. Depends on nothing else of the package; everything else builds on it."""
