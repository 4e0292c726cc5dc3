"""A fixture world for the crawler: many small company sites generated from a seed, with their ground truth.

``generate_world(seed, sites)`` builds every page in memory (:mod:`world.generate`); :class:`WorldServer`
serves them on 127.0.0.1 by host name (:mod:`world.server`); each site's host is a ``.test`` name mapped to
127.0.0.1 through the resolver override. ``python -m world`` serves one from its own process.
"""

from world.generate import Response, SiteTruth, World, generate_world
from world.server import WorldServer

__all__ = ["Response", "SiteTruth", "World", "WorldServer", "generate_world"]
