"""Televised sessions: WHIP in, WHEP out, encode once, send the same packets to everyone.

Pure media logic on aiortc and PyAV; it imports neither the web layer nor the other
domain packages. Entry point: :class:`broadcast.channels.Broadcaster`.
"""

from broadcast.channels import Broadcaster, Channel, Session
from broadcast.errors import BroadcastError

__all__ = ["Broadcaster", "Channel", "Session", "BroadcastError"]
