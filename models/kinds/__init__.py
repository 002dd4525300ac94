"""The model kinds: one module per kind, named after it, each registering its :class:`models.registry.KindSpec`.

A kind module builds on shared blocks (:mod:`models.nn`), schedules and samplers (:mod:`models.sampling`) and the
common interface (:mod:`models.base`); it never imports another kind's module. The registry imports these
modules in its ``BUILTIN_MODULES`` order.
"""
