"""Writes every single-setting notebook from one template: lenet_mnist, resnet_cifar, vgg_cifar100, resnet_imagenet
and vit_imagenet (so a change is made once, here). ``python tools/make_model_notebooks.py`` rewrites them;
tests/test_book.py fails when a committed notebook differs from what this writes. Each notebook's title,
intro and parameters come from its model's record (oracle_core/models/catalog.py)."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from oracle_core.models import MODELS

BODY = '''from pathlib import Path

from IPython.display import Markdown, display

from oracle_core import data
from oracle_core.analysis import oracle, reference
from oracle_core.experiment.runner import run_study
from oracle_core.pages import charts, notebook, setting

notebook.setup(globals())  # offline charts, one-line errors, parameters checked
spec, note = setting.page_spec(model, dataset, layers, ratio, n_masks, seed, repeats or None, profile, wiring,
                               compute, precision)
root = Path(results_root) if results_root else None
if compute:
    if dataset != "imagenet":  # ImageNet cannot be downloaded: run_study checks it and says where it goes
        data.fetch(dataset, Path(data_root) if data_root else None)  # present: md5 check; absent: download or say where
    result = run_study(spec, experiment, root, Path(data_root) if data_root else None, device=device or None,
                       executor=executor, ray_address=ray_address or None)
else:
    result = setting.stored_result(spec, experiment, root)  # None when the store lacks it
display(setting.rerun_box("{name}", spec, experiment, result))
if result is None:
    display(Markdown(note + setting.not_stored(spec, experiment)))
else:
    setting.check_summary(result)  # the stored summary is what the analysis computes from masks.csv
    display(Markdown(note + f"### {setting.setting_title(spec)}\\n\\n" + setting.protocol_sentence(result)))'''

SCATTER = '''if result is not None:
    display(Markdown("## Pruned train loss against final test accuracy and final test loss"))
    pm, star = result.per_mask, oracle.result_oracle(result)  # the star: the oracle over every candidate
    display(charts.side_by_side(
        charts.oracle_scatter(pm, "final_test_acc", title=f"ours ({spec.profile}): accuracy", oracle=star),
        charts.oracle_scatter(pm, "final_test_loss", title=f"ours ({spec.profile}): test loss", oracle=star),
    ))'''

TABLE = '''if result is not None:
    display(Markdown("## Our numbers next to the paper's"))
    display(setting.comparison_table(result))
    display(Markdown(setting.disagreement(result)))
display(setting.data_links(spec, result))'''

PAPER = '''display(Markdown("## The paper's own points, analyzed by our code\\n\\nThe per-mask points of the "
                 "paper's panel, recovered from its published figure, run through the same analysis as ours."))
panel = reference.panel_name(spec.model, spec.dataset, spec.layers, spec.ratio)
if panel is None:
    display(Markdown("The paper published no scatter panel for this setting."))
else:
    pts = reference.paper_points(panel)
    epochs = reference.paper_row(spec.model, spec.dataset, spec.layers, spec.ratio)["retrain_epochs"]
    display(charts.oracle_scatter(pts, "final_test_acc", title=f"paper ({panel}): {epochs} epochs, mean of 3 repeats"))
    display(setting.paper_check(panel))'''


def params(rec) -> str:
    """The parameters cell of ``rec``'s notebook (a models.ModelRecord with a page)."""
    pg = rec.page
    model, dataset, layers, experiment = rec.name, rec.dataset, pg.layers, pg.experiment
    layer_note, model_note, n_masks, profiles, profile = pg.layer_note, pg.model_note, pg.n_masks, pg.profiles_note, \
        pg.profile
    dataset_note, n_masks_note = pg.dataset_note, pg.n_masks_note
    return f'''# Parameters (papermill): one setting of the study
model = "{model}"          # {model_note}
dataset = "{dataset}"        # {dataset_note}
layers = "{layers}"   # {layer_note}
ratio = 0.5                # fraction of filters removed in each named layer
n_masks = {n_masks}             # {n_masks_note}
seed = 0                   # base seed of pretraining, sampling and every retraining
repeats = 0                # retrainings per mask, 0 means the profile default
profile = "{profile}"          # {profiles}
wiring = "correct"         # or released_code to mimic the paper code
precision = "fp32"         # retraining arithmetic: fp32 (the protocol), tf32 or bf16 (GPU speed; see bench/RESULTS.md)
experiment = "{experiment}" # folder name under results
results_root = ""          # empty means results in the repository
data_root = ""             # empty means data in the repository
device = ""                # empty picks cuda when present, else cpu
executor = "local"         # local or ray
ray_address = ""           # empty starts a local Ray instance
compute = True             # False only reads the results store (the book build)
'''


def notebook(name, title, intro, p):
    cells = [new_markdown_cell(f"# {title}\n\n{intro}"), new_code_cell(p, metadata={"tags": ["parameters"]}),
             new_code_cell(BODY.replace("{name}", name)), new_code_cell(SCATTER), new_code_cell(TABLE),
             new_code_cell(PAPER)]  # headings are printed by the cells, so a section without output has none
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    return nb


# one notebook per registered model with a page (its record, models/catalog.py, holds the texts)
NOTEBOOKS = {r.page.notebook: notebook(r.page.notebook, r.page.title, r.page.intro, params(r))
             for r in MODELS.values() if r.page is not None}


def render(name: str) -> str:
    """The notebook ``name`` as the text this tool writes (stable cell ids: regenerating changes only what the
    template changes)."""
    nb = NOTEBOOKS[name]
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name}-{i}"
    return nbformat.writes(nb) + "\n"


if __name__ == "__main__":
    for name in NOTEBOOKS:
        with open(f"notebooks/{name}.ipynb", "w") as f:
            f.write(render(name))
        print("wrote", name)
