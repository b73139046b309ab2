"""Sample captures and the frame-crafting library (:mod:`samples.craft`) that makes them."""
