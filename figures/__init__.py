"""The write-up's figures (docs/figures/*.svg), drawn from the real data in the repository.

Run ``make figures``; tests/site/test_figures.py checks the committed files are what it produces.
"""
