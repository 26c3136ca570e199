"""The application's services, one module per area: they own state, executors, schedulers,
batchers and background loops, and call the domain packages and the stores. Routes parse a
request, call one service method and render its answer."""
