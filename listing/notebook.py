"""The buyer notebook: subscribe, create the model with network isolation, deploy, invoke with the
bundled samples, run a batch transform on the bundled batch input, read the results, clean up."""

from __future__ import annotations

import nbformat
from nbformat import v4

from . import buyer_code

NOTEBOOK = "buyer-notebook.ipynb"

MARKDOWN = {
    "setup": "## 1. Set up\nThe notebook runs in any Region that lists the product (table above). It uses the "
             "IAM role in `SAGEMAKER_ROLE_ARN`, or, on SageMaker notebook instances and Studio, the notebook's own "
             "execution role.",
    "create_model": "## 2. Create the model\nThe model runs with network isolation, as every AWS Marketplace "
                    "model does: it cannot reach the internet or other AWS services, and it needs no environment "
                    "variables.",
    "deploy": "## 3. Deploy a real-time endpoint",
    "invoke": "## 4. Invoke the endpoint with the bundled samples\nThe answers should match the files under "
              "`samples/realtime/` named `output-*`, which the seller's own image produced.",
    "transform": "## 5. Run a batch transform job on the bundled batch input",
    "read_results": "## 6. Read the results\nEach input file gives one `.out` file; compare with "
                    "`samples/batch/*.out`.",
    "cleanup": "## 7. Clean up\nTo stop paying, delete the endpoint. To cancel the subscription, open "
               "*Your Marketplace Software* in the AWS Marketplace console and cancel it there.",
}


def build(*, title: str, description: str, arns: dict, parameters: str, recommended: dict) -> nbformat.NotebookNode:
    table = "\n".join(["| Region | Model package ARN |", "|---|---|", *(f"| {r} | `{a}` |" for r, a in arns.items())])
    intro = (f"# {title}\n\n{description}\n\n"
             "**Before you start**\n"
             "1. Subscribe to the product in AWS Marketplace.\n"
             "2. Run in a Region that lists it:\n\n"
             f"{table}\n\n"
             f"3. This notebook starts one `{recommended['realtime']}` endpoint and one `{recommended['batch']}` "
             "transform job, and deletes them at the end. It needs no data of yours: the samples are bundled.")
    cells = [v4.new_markdown_cell(intro), v4.new_code_cell(parameters)]
    for step, source in buyer_code.STEPS:
        cells.append(v4.new_markdown_cell(MARKDOWN[step]))
        cells.append(v4.new_code_cell(source))
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"  # stable ids: a re-run changes no line of the committed notebook
    notebook = v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    nbformat.validate(notebook)
    return notebook


def write(notebook, path) -> None:
    nbformat.write(notebook, str(path))
