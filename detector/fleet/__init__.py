"""The parts of `detector generate` (detector/generate.py): the background fleet's vocabulary and queries
(vocabulary.py, bulk.py) and the rules' planted cases (plant.py)."""
