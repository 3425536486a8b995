"""Penguins: species from bill, flipper, body mass, island and sex (palmerpenguins' CSV)."""
