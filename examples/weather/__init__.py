"""A small weather service laid out as production FastAPI apps are: Module 1's example.

It answers `GET /forecasts/{city}` with a summary of an upstream weather API's hourly forecast,
through one shared HTTP client. Run it with
`WEATHER_API_KEY=... uvicorn weather.main:create_app --factory --app-dir examples`, and its tests
with `pytest examples/weather`.
"""
