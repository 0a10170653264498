"""The dashboard: server-rendered pages (Jinja2) with small vanilla scripts and offline maps (Leaflet).

The pages are shells that hold no data: their scripts call the JSON API with
the user's bearer token and stated purpose (kept in the tab's
``sessionStorage``). Maps use Leaflet, vendored from the npm registry into
``static/vendor/leaflet`` (``make web``), with a basemap drawn from the store's
own area polygons: no tile server, CDN or web font is ever contacted.
"""

from crimelens.web._pages import PAGES, mount_web

__all__ = ["PAGES", "mount_web"]
