"""Generated datasets: deterministic, seeded, no downloads.

Real-valued series (:func:`noisy_sine`, :func:`mackey_glass`,
:func:`lorenz`, :func:`narma`, :func:`arma`), memory tasks
(:func:`adding_problem`, :func:`copy_task`) and a discrete source with
known transitions (:func:`markov_source`).

Examples
--------
>>> from numbarnn import datasets
>>> datasets.mackey_glass(100).shape
(100,)
"""
from .continuous import arma, lorenz, mackey_glass, narma, noisy_sine
from .tasks import adding_problem, copy_task, markov_source

__all__ = ["adding_problem", "arma", "copy_task", "lorenz", "mackey_glass",
           "markov_source", "narma", "noisy_sine"]
