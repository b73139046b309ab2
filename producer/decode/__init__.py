"""Frames to records: link layers, tunnels, IP, fragments, ICMP."""
from .decoder import Decoder, Malformed, Skip

__all__ = ["Decoder", "Malformed", "Skip"]
