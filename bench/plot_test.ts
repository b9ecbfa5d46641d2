import { assert, assertStringIncludes } from "../tests/assert.ts";
import { renderLinePlot } from "./plot.ts";

Deno.test("renderLinePlot() draws one polyline per series with escaped labels", () => {
  const svg = renderLinePlot({
    title: "restore <time>",
    xLabel: "services",
    yLabel: "ms",
    series: [
      { label: "legacy", points: [[500, 100], [1000, 200], [2000, 450]] },
      { label: "nft & co", points: [[500, 970], [1000, 4600]] },
    ],
  });
  assert(svg.startsWith("<svg"));
  assertStringIncludes(svg, "restore &lt;time&gt;");
  assertStringIncludes(svg, "nft &amp; co");
  assert(svg.match(/<polyline/g)?.length === 2);
  assert(svg.match(/<circle/g)?.length === 5);
});

Deno.test("renderLinePlot() leaves non-positive values out of a log axis", () => {
  const svg = renderLinePlot({
    title: "t",
    xLabel: "x",
    yLabel: "y",
    logY: true,
    series: [{ label: "a", points: [[1, 0], [2, 10], [3, 100]] }],
  });
  assert(svg.match(/<circle/g)?.length === 2);
  assert(!svg.includes("NaN"));
});
