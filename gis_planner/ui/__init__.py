"""The Streamlit app (``streamlit run app.py``): a thin shell over the library.

Modules: :mod:`~gis_planner.ui.app` (shell, navigation, errors), :mod:`~gis_planner.ui.state` (language,
workspace), :mod:`~gis_planner.ui.cache` (caching by data version), :mod:`~gis_planner.ui.maps` (offline
folium maps), :mod:`~gis_planner.ui.widgets`, :mod:`~gis_planner.ui.safe`; page scripts in ``pages/``.
"""
