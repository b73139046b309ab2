"""The faust-streaming runner of the detection engine."""
