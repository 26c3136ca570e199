"""HTTP routes, one module per area. Each module has ``setup(app)`` and ``OPENAPI``.

``setup`` adds the area's routes, app state and ``cleanup_ctx`` entries (including what
``councilcast demo`` starts for that area, when ``app[CONFIG].demo`` is set).
``OPENAPI`` is a dict of OpenAPI ``paths`` entries merged into ``/api/openapi.json``.
"""

AREAS = [
    "councilcast.routes.pages",
    "councilcast.routes.health",
    "councilcast.routes.voting",
    "councilcast.routes.broadcast",
    "councilcast.routes.plan",
    "councilcast.routes.plan_variants",
    "councilcast.routes.sessions",
    "councilcast.routes.delegates",
    "councilcast.routes.council",
    "councilcast.routes.secretariat",
    "councilcast.routes.tokens",
    "councilcast.routes.assembly_page",
]
