"""The word tokenizer of text conditioning: lower-case words of the training captions -> ids, with <pad>, <bos>
and <eos>; a word it does not know is named, never dropped."""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

PAD, BOS, EOS = 0, 1, 2


SPECIAL = ["<pad>", "<bos>", "<eos>"]


MAX_VOCAB = 5000


WORD = re.compile(r"[a-z]+")


class UnknownWords(ValueError):
    """Words of a prompt that are not in the tokenizer's vocabulary (named, never dropped silently)."""

    def __init__(self, words: list[str]):
        self.words = words
        shown = ", ".join(repr(w) for w in words[:8]) + (" …" if len(words) > 8 else "")
        super().__init__(f"unknown word{'s' if len(words) > 1 else ''} {shown}: the text encoder knows only the "
                         "words of its training captions")


@dataclass
class Tokens:
    ids: torch.Tensor  # (B, context) long: <bos> words <eos> <pad>…
    truncated: list[bool]  # per text: its words did not all fit in the context


class Tokenizer:
    """Lower-case words (letters only) -> ids; 0, 1, 2 are <pad>, <bos>, <eos>."""

    subwords = False  # a word is one token

    def __init__(self, vocab: list[str], context: int):
        self.vocab, self.context = list(vocab), int(context)
        self.ids = {w: i + len(SPECIAL) for i, w in enumerate(self.vocab)}

    @staticmethod
    def words(text: str) -> list[str]:
        return WORD.findall(str(text).lower())

    @classmethod
    def vocabulary(cls, texts) -> list[str]:
        return sorted({w for t in texts for w in cls.words(t)})

    @property
    def size(self) -> int:
        return len(SPECIAL) + len(self.vocab)

    def fitting(self, text: str) -> int:
        """How many of the text's words fit in the context (less <bos> and <eos>)."""
        return min(len(self.words(text)), self.context - 2)

    def unknown(self, text: str) -> list[str]:
        seen: dict[str, None] = {}
        for w in self.words(text):
            if w not in self.ids:
                seen.setdefault(w)
        return list(seen)

    def __call__(self, texts: list[str]) -> Tokens:
        """Token ids of ``texts``; raises :class:`UnknownWords` naming every word it does not know."""
        unknown = list(dict.fromkeys(w for t in texts for w in self.unknown(t)))
        if unknown:
            raise UnknownWords(unknown)
        ids = torch.full((len(texts), self.context), PAD, dtype=torch.long)
        truncated = []
        for i, t in enumerate(texts):
            words = [self.ids[w] for w in self.words(t)]
            truncated.append(len(words) > self.context - 2)
            seq = [BOS, *words[: self.context - 2], EOS]
            ids[i, : len(seq)] = torch.tensor(seq)
        return Tokens(ids, truncated)

    def decode(self, ids) -> list[str]:
        names = SPECIAL + self.vocab
        return [names[i] for i in ids if i != PAD]
