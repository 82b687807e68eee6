"""MNIST Studio's Streamlit pages: the only package that imports streamlit.

One module per tab (learn, train, draw, evaluate), the sidebar, and what they share:
who this browser is (session), server-wide caches (resources), link presets, charts.
"""
