"""Learned scoring: a lead's features (``features.py``), a stored model and scoring with it (``model.py``, no
scikit-learn), training and its measures (``training.py``, scikit-learn imported lazily), and training from the
database, with the maintenance stage's retraining (``retrain.py``)."""
