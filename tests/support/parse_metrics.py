#!/usr/bin/env python3
"""Parses a metrics file with a real parser, python3-prometheus-client's: the OpenMetrics
parser for OpenMetrics text, the Prometheus text-format parser for `*.prom` files (the
dialect node_exporter's textfile collector reads). Prints the families as JSON (non-finite
values as strings). Exit 1 with the parser's message when the file does not parse, 77 when
prometheus_client is not installed."""
import json
import math
import sys

try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
    from prometheus_client.parser import text_string_to_metric_families as parse_prometheus
except ImportError:
    print("python3-prometheus-client is not installed", file=sys.stderr)
    sys.exit(77)


def value(v):
    return v if math.isfinite(v) else repr(v)


def main(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    parse = parse_prometheus if path.endswith(".prom") else parse_openmetrics
    try:
        families = [
            {
                "name": fam.name,
                "type": fam.type,
                "unit": fam.unit,
                "help": fam.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": value(s.value)} for s in fam.samples],
            }
            for fam in parse(text)
        ]
    except Exception as e:  # the parsers raise ValueError and friends; all mean "invalid"
        print(f"{path}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    json.dump(families, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
