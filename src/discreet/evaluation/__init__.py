"""Readers for data packs laid out like ../shared/data (see its DATA.md) and the scores computed on them."""
