"""The Grafana dashboard type-checks against Grafana's own published schema (npm `@grafana/schema`, the types
Grafana generates from its CUE schema), with the real TypeScript compiler.

The dashboard JSON is written into a TypeScript file as object literals (not imported as a JSON module): a fresh
literal gets TypeScript's excess-property check, so a misspelled or unknown key is an error too, not only a wrong
type. The whole dashboard is checked as `Dashboard` (annotations as `AnnotationQuery` plus the four fields the
Prometheus annotation editor stores beside them); each stat and time series panel's `options` and
`fieldConfig.defaults.custom` against that panel plugin's generated `Options`/`FieldConfig`. The schema's string
enums are nominal in TypeScript, so `Loose<T>` turns each into the union of its string values (what JSON holds).
"""

from __future__ import annotations

import copy
import json

import pytest

from tests.tools import CHART, find_node_package, find_tool, run

DASHBOARD = CHART / "files" / "dashboards" / "grpo-training.json"
PANELCFG = "@grafana/schema/dist/esm/raw/composable/{0}/panelcfg/x/{1}PanelCfg_types.gen"
PLUGINS = {"timeseries": "TimeSeries", "stat": "Stat"}  # panel type -> generated type prefix

HEADER = """\
import type { AnnotationQuery, Dashboard, DataQuery, Panel, RowPanel } from "@grafana/schema";
%s

// String enums are nominal in TypeScript; JSON holds their string values.
type Loose<T> = T extends string
  ? `${T}`
  : T extends (infer U)[]
    ? Loose<U>[]
    : T extends object
      ? { [K in keyof T]: Loose<T[K]> }
      : T;

// @grafana/schema types a query as the generic DataQuery; each data source adds its own fields. Prometheus's
// (Grafana's packages/grafana-prometheus dataquery, not published in @grafana/schema):
interface PrometheusQuery extends DataQuery {
  expr: string;
  instant?: boolean;
  range?: boolean;
  exemplar?: boolean;
  legendFormat?: string;
  interval?: string;
  intervalFactor?: number;
  format?: "time_series" | "table" | "heatmap";
  editorMode?: "code" | "builder";
}
// ... and the fields the Prometheus annotation editor stores next to AnnotationQuery's.
interface PrometheusAnnotationFields {
  titleFormat?: string;
  textFormat?: string;
  tagKeys?: string;
  useValueForTime?: boolean;
}
type PrometheusPanel = Omit<Loose<Panel>, "targets"> & { targets?: Loose<PrometheusQuery>[] };
type PrometheusAnnotation = Omit<Loose<AnnotationQuery>, "target"> & PrometheusAnnotationFields & {
  target?: Loose<PrometheusQuery>;
};
"""


def _literal(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def typescript_source(dashboard: dict) -> str:
    """check.ts: every panel, annotation and the dashboard as typed object literals."""
    imports = "\n".join(
        f'import type {{ Options as {p}Options, FieldConfig as {p}FieldConfig }} from "{PANELCFG.format(t, p)}";'
        for t, p in PLUGINS.items()
    ).replace("{ Options as StatOptions, FieldConfig as StatFieldConfig }", "{ Options as StatOptions }")
    out = [HEADER % imports]
    dashboard = copy.deepcopy(dashboard)
    names = []
    for panel in dashboard["panels"]:
        pid = panel["id"]
        kind = "Loose<RowPanel>" if panel["type"] == "row" else "PrometheusPanel"
        out.append(f"const panel{pid}: {kind} = {_literal(panel)};")
        names.append(f"panel{pid}")
        prefix = PLUGINS.get(panel["type"])
        if prefix is None:
            continue
        out.append(f"const options{pid}: Loose<{prefix}Options> = {_literal(panel['options'])};")
        custom = panel["fieldConfig"]["defaults"].get("custom")
        if prefix == "TimeSeries" and custom is not None:
            out.append(f"const custom{pid}: Loose<TimeSeriesFieldConfig> = {_literal(custom)};")
    annotations = dashboard["annotations"]["list"]
    out.append(f"const annotations: PrometheusAnnotation[] = {_literal(annotations)};")
    dashboard["annotations"]["list"] = "__ANNOTATIONS__"
    dashboard["panels"] = "__PANELS__"
    body = _literal(dashboard).replace('"__ANNOTATIONS__"', "annotations")
    body = body.replace('"__PANELS__"', "[" + ", ".join(names) + "]")
    out.append(f"export const dashboard: Loose<Dashboard> = {body};")
    return "\n".join(out) + "\n"


def _broken(mutate) -> dict:
    dashboard = copy.deepcopy(json.loads(DASHBOARD.read_text()))
    mutate(dashboard)
    return dashboard


def _panel(d: dict, panel_type: str) -> dict:
    return next(p for p in d["panels"] if p["type"] == panel_type)


# Broken copies of the dashboard and the error tsc must report for each (the check is not vacuous).
BROKEN = {
    "wrong-type": (lambda d: d.__setitem__("schemaVersion", "39"), "Type 'string' is not assignable to type 'number'"),
    "unknown-key": (lambda d: _panel(d, "stat")["gridPos"].__setitem__("width", 4), "width"),
    "annotation-key": (lambda d: d["annotations"]["list"][1].__setitem__("expr", "up"), "expr"),
    "query-key": (lambda d: _panel(d, "stat")["targets"][0].__setitem__("legend", "x"), "legend"),
    "bad-enum-value": (lambda d: _panel(d, "stat")["options"].__setitem__("colorMode", "rainbow"), '"rainbow"'),
    "missing-required": (lambda d: _panel(d, "timeseries")["options"]["legend"].pop("calcs"), "calcs"),
    "misspelled-custom": (
        lambda d: _panel(d, "timeseries")["fieldConfig"]["defaults"]["custom"].__setitem__("lineWidht", 1),
        "lineWidht",
    ),
}


@pytest.fixture(scope="module")
def tsc_errors(tmp_path_factory) -> dict[str, str]:
    """One tsc run over the real dashboard (dashboard.ts) and every broken copy; errors per file."""
    find_tool("node")
    typescript = find_node_package("typescript")
    modules = find_node_package("@grafana/schema").parent.parent
    tmp = tmp_path_factory.mktemp("tsc")
    (tmp / "node_modules").symlink_to(modules)
    sources = {"dashboard": json.loads(DASHBOARD.read_text())}
    sources.update({name: _broken(mutate) for name, (mutate, _) in BROKEN.items()})
    for name, dashboard in sources.items():
        (tmp / f"{name}.ts").write_text(typescript_source(dashboard))
    cmd = ["node", str(typescript / "bin" / "tsc"), "--noEmit", "--strict", "--target", "es2020",
           "--module", "esnext", "--moduleResolution", "bundler", "--skipLibCheck",
           *(f"{name}.ts" for name in sources)]
    proc = run(cmd, check=False, timeout=300, cwd=tmp)
    errors: dict[str, str] = {name: "" for name in sources}
    for line in proc.stdout.splitlines():
        name = line.split(".ts(", 1)[0]
        assert name in errors, f"tsc: {line}"
        errors[name] += line + "\n"
    assert (proc.returncode != 0) == any(errors.values()), proc.stdout + proc.stderr
    return errors


def test_dashboard_matches_grafanas_published_schema(tsc_errors):
    dashboard = json.loads(DASHBOARD.read_text())
    assert {p["type"] for p in dashboard["panels"]} - {"row", "alertlist"} <= set(PLUGINS)
    assert tsc_errors["dashboard"] == ""


@pytest.mark.parametrize("name", list(BROKEN))
def test_the_schema_check_catches_broken_dashboards(tsc_errors, name):
    error = BROKEN[name][1]
    assert error in tsc_errors[name], tsc_errors[name] or "no error"
