"""The README's 'When things go wrong' catalogue, one test per row, split by area."""
