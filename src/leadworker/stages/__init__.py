"""Stages: one module per stage, each a handler for the consumer (see ``broker.consumer.StageHandler``).

:mod:`leadworker.stages.table` is the one list of stages (name, queue, default prefetch, handler factory); the
worker builds its handlers from it.
"""
