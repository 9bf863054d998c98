"""The embedded default of the local CPU run: which tiny model, which toy data, and the engine settings that
let it learn within minutes on 2 CPU cores.

`./train.sh --local` without `--model`/`--data` on a machine without CUDA selects model path `embedded:tiny`
and data path `embedded:parity`; the CLI fills in `EMBEDDED_SPEC_DEFAULTS` for every field the user did not
set. The GRPO parameters keep the seed's defaults (rolloutN 5, normAdvByStd true, useKLLoss true,
klLossCoef 0.001, klLossType low_var_kl). Changed, and why:

- learningRate 1e-3 (seed 1e-6): the model starts from random weights and has ~76k parameters; 1e-6 would
  not move it within the 5-minute budget. 2e-3 learns a little faster but, with some model seeds, a rare
  large gradient (TRL's k3 KL is not clamped like verl's low_var_kl) knocked the learned policy into
  "always one label" after it had reached reward 1.0; 1e-3 did not.
- batchSize 16 (seed 256) and epochs 8 (seed 15): 512 toy prompts / 16 = 32 steps per epoch, 256 steps
  in all, ~1 minute on 2 shared cores (measured: 57 s for `./train.sh --local`, first 10% of steps reward
  0.19, last 10% 0.95, validation 0.997). Each step still samples 16 x 5 = 80 responses.
- maxResponseLength 1 (seed 1024): the answer is one word, and the tokenizer has one token per word. With
  2 or 3 tokens the builtin classification reward (which ignores punctuation) also accepts "odd ?" and
  "? odd", the label's position keeps moving, and in our runs the model stopped at "always the same label"
  (reward ~0.5); with 1 token it learns parity itself (reward -> 1.0).
- maxPromptLength 64 (seed 512): the toy prompts are ~15 tokens.
- entropyCoeff 0.03 (seed: unset, verl's default 0): a small entropy bonus keeps the random policy from
  collapsing onto one label before it has learned parity; without it runs often stalled at ~0.5.
- gradientCheckpointing false (seed: on): recomputation only costs time on a model this small.
- saveFreq 50, testFreq 50: a few checkpoints and validations in a 256-step run.
"""

from __future__ import annotations

EMBEDDED_MODEL = "embedded:tiny"
EMBEDDED_DATA = "embedded:parity"

# Toy data set (trainer_entry.embedded.toy_data) and tiny model (trainer_entry.embedded.tiny_model) sizes.
TOY_TRAIN_ROWS = 512
TOY_VAL_ROWS = 64
TOY_SEED = 0
TINY_MODEL_SEED = 0
EMBEDDED_MODEL_DIR = "embedded-model"  # under the run's output dir; rebuilt identically on every start

# GRPOJob spec fields (dotted, camelCase as in the wire format) -> value, applied where the user set nothing.
EMBEDDED_SPEC_DEFAULTS: dict[str, object] = {
    "model.gradientCheckpointing": False,
    "data.maxPromptLength": 64,
    "grpo.entropyCoeff": 0.03,
    "training.batchSize": 16,
    "training.learningRate": 1e-3,
    "training.epochs": 8,
    "training.maxResponseLength": 1,
    "training.saveFreq": 50,
    "training.testFreq": 50,
}

# The tiny model on the user's own data (`./train.sh --local --data my.json`): the toy set's one-token answers
# and 64-token prompts would cut real answers off, the seed's 1024 tokens would take hours on a CPU.
USER_DATA_LENGTHS: dict[str, object] = {
    "data.maxPromptLength": 256,
    "training.maxResponseLength": 32,
}
