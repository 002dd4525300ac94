"""Sampling: diffusion noise schedules and the forward process, the reverse-process samplers (one class each),
the trajectories the views scrub through, and the settings of one generation.
"""
