"""gis_planner app: `streamlit run app.py` (or `make app`) opens the demo municipality.

The app is a thin shell over the library; see gis_planner/ui/ and docs/app.md.
"""
from gis_planner.ui.app import main

main()
