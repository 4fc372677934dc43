"""Meta-learning: the database of past runs, the corpus it is built from, and (later) the recommender."""
