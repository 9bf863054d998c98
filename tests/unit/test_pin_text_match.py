"""Pins the short-text scorer (qa, trivia, classification) where mutation testing found it unpinned: the
answer tag in any case and over several lines, the order of the extraction rules, the sentence cut after an
answer phrase, alias lists, and the normalisation. Written as response + ground truth -> score."""

import pytest

from trainer_entry.reward_func import compute_score
from trainer_entry.rewards.text_match import extract_answer


def qa(response, truth):
    return compute_score(data_source="qa", solution_str=response, ground_truth=truth)


@pytest.mark.parametrize(
    ("response", "truth", "expected"),
    [
        ("<ANSWER>Paris</ANSWER>", "Paris", 1.0),  # the tag in any case
        ("<Answer>Paris</answer>", "Paris", 1.0),
        ("<answer>\nNew\nYork\n</answer>", "New York", 1.0),  # over several lines
        ("<answer>Rome</answer> then <answer>Paris</answer>", "Paris", 1.0),  # the last one
        ("<answer>Rome</answer> then <answer>Paris</answer>", "Rome", 0.0),
        ("<answer>Paris</answer> and \\boxed{Rome}", "Paris", 1.0),  # a tag beats a box
        ("\\boxed{Rome}. Answer: Paris", "Rome", 1.0),  # a box beats an answer phrase
        ("\\boxed{\\textbf{Rome}}", "Rome", 1.0),
        ("Answer: Paris\nAnswer: Rome", "Rome", 1.0),  # the last answer phrase
        ("Final answer is: Paris", "Paris", 1.0),
        ("the answer is Paris. It is the capital of France.", "Paris", 1.0),  # the first sentence only
        ("the answer is Paris\nIt is the capital of France.", "Paris", 1.0),  # the first line only
        ("the answer is 3.5 litres", "3.5 litres", 1.0),  # a decimal point is no sentence end
        ("the answer is\n\nParis", "Paris", 1.0),  # the next non-empty line
        ("I think so.\nAnswer:", "I think so", 0.0),  # an empty answer phrase: the last non-empty line
        ("I think so.\nAnswer:", "Answer", 1.0),
        ("Some reasoning.\n\nParis\n\n", "Paris", 1.0),  # no marker: the last non-empty line
        ("   \n  ", "Paris", 0.0),
    ],
)
def test_which_part_of_the_response_is_the_answer(response, truth, expected):
    assert qa(response, truth) == expected


def test_extracted_answer_is_the_raw_text():
    assert extract_answer("<answer> Paris </answer>") == " Paris "
    assert extract_answer("Answer: Paris. More text.") == "Paris"
    assert extract_answer("no marker\nlast line") == "last line"
    assert extract_answer("") == ""


@pytest.mark.parametrize(
    ("response", "truth", "expected"),
    [
        ("Answer: STRASSE", "straße", 1.0),  # case-folded, not just lower-cased
        ("Answer: an apple", "Apple", 1.0),  # articles dropped
        ("Answer: 《红楼梦》", "红楼梦", 1.0),  # CJK punctuation dropped
        ("Answer: “Hamlet”", "Hamlet", 1.0),
        ("Answer: New   York", "new york", 1.0),
        ("Answer: New-York", "New York", 1.0),  # punctuation becomes a space
        ("Answer: NewYork", "New York", 0.0),
        ("Answer: theatre", "atre", 0.0),  # "the" only as a whole word
    ],
)
def test_normalisation(response, truth, expected):
    assert qa(response, truth) == expected


@pytest.mark.parametrize(
    ("truth", "expected"),
    [
        ('["New York City", "NYC"]', 1.0),  # a JSON list of aliases
        (["New York City", "NYC"], 1.0),  # a Python list
        (("New York City", "NYC"), 1.0),
        ('["New York City", "LA"]', 0.0),
        ('  ["NYC"]  ', 1.0),  # surrounding whitespace
        ('{"b": "NYC"}', 0.0),  # JSON but not a list: one answer, "b nyc"
        ('["NYC", "LA"', 0.0),  # not valid JSON: one answer, "nyc la"
    ],
)
def test_aliases(truth, expected):
    assert qa("Answer: NYC", truth) == expected


def test_a_string_that_only_looks_like_a_list_is_one_answer():
    assert qa("Answer: NYC LA", '["NYC", "LA"') == 1.0
    assert qa("Answer: b NYC", '{"b": "NYC"}') == 1.0


class _Array:
    """What a parquet list column gives: an object with tolist()."""

    def __init__(self, items):
        self.items = items

    def tolist(self):
        return list(self.items)


def test_array_like_ground_truth():
    assert qa("Answer: NYC", _Array(["New York City", "NYC"])) == 1.0
    assert qa("Answer: LA", _Array(["New York City", "NYC"])) == 0.0


@pytest.mark.parametrize("truth", ["  ", "[]", '["", "!!"]', "the"])
def test_ground_truth_with_no_usable_answer_is_an_error_naming_it(truth):
    with pytest.raises(ValueError, match=r"has no usable answer after normalisation.*qa, trivia, classification"):
        qa("Answer: x", truth)


def test_empty_aliases_are_dropped_not_matched():
    assert qa("Answer: !!", '["", "Paris"]') == 0.0
    assert qa("Answer: Paris", '["", "Paris"]') == 1.0


@pytest.mark.parametrize(
    ("response", "truth", "expected"),
    [
        ("Sentiment: positive", "positive", 1.0),  # the part after the last colon
        ("Label: x: positive", "positive", 1.0),
        ("positive.", "positive", 1.0),
        ("Sentiment: positive", "Sentiment: positive", 1.0),  # the whole answer also counts
        ("Sentiment - positive", "positive", 0.0),
        ("Sentiment: negative", "positive", 0.0),
    ],
)
def test_classification_label(response, truth, expected):
    assert compute_score("classification", response, truth) == expected


def test_the_scorers_themselves_return_exactly_one_or_zero():
    # compute_score clamps to [0, 1]; a custom reward file may call the scorers directly
    from trainer_entry.rewards import text_match

    assert text_match.score("Answer: Paris", "Paris") == 1.0 and text_match.score("Answer: Rome", "Paris") == 0.0
    assert text_match.score_label("positive", "positive") == 1.0
    assert text_match.score_label("Sentiment: positive", "positive") == 1.0
    assert text_match.score_label("Sentiment: negative", "positive") == 0.0
