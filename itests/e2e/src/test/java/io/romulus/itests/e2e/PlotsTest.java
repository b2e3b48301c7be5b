package io.romulus.itests.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Pattern;

import javax.xml.parsers.DocumentBuilderFactory;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.PauseBreakdown;

/** The benchmarks' plots, fed recorded series: each is a well-formed SVG that draws them, with its data beside it. */
class PlotsTest {

    @TempDir
    Path dir;

    /** Replies of two trials of scripts/bench-failover around the kill, as its CSV has them. */
    private static final String FAILOVER_CSV = """
            trial,mode,ms_from_kill,wait_ms,latency_ms
            1,no witness,-31.2,11.9,1.8
            1,no witness,-19.0,12.2,2.1
            1,no witness,-7.1,11.9,1.7
            1,no witness,341.5,348.6,338.2
            1,no witness,353.9,12.4,2.3
            1,no witness,366.0,12.1,2.0
            2,"witness, session 1000 ms, tick 500 ms",-25.0,12.0,1.9
            2,"witness, session 1000 ms, tick 500 ms",-13.1,11.9,1.8
            2,"witness, session 1000 ms, tick 500 ms",1826.4,1839.5,1828.0
            2,"witness, session 1000 ms, tick 500 ms",1838.3,11.9,1.7
            """;

    @Test
    void failoverLatencyDrawsEachTrialFromTheBenchmarksCsv() throws Exception {
        Path csv = dir.resolve("failover-latency.csv");
        Files.writeString(csv, FAILOVER_CSV, StandardCharsets.UTF_8);

        Path svg = Plots.failoverLatency(csv, dir.resolve("failover-latency.svg"));

        String text = svgText(svg);
        assertTrue(text.contains("trial 1 (no witness)"), "the first trial's line is in the legend");
        assertTrue(text.contains("trial 2 (witness, session 1000 ms, tick 500 ms)"),
                "the second trial's line, its mode whole although it has commas");
        assertTrue(text.contains("QEMU TCG"), "the title says TCG");
        assertEquals(FAILOVER_CSV, Files.readString(csv, StandardCharsets.UTF_8), "the benchmark's CSV is left as is");
        assertEquals(10 + 2, markers(svg), "a marker per reply, and one per trial in the legend");
    }

    @Test
    void pauseBreakdownStacksTheMeanOfEachPartPerPhase() throws Exception {
        // two epochs at 500 pages/s, one flat out; pause = the parts + 0.1 ms of bookkeeping
        List<EpochStats> slow = List.of(epoch(1, 24_000_000, 40, breakdown(600_000, 200_000, 30_000)),
                epoch(2, 26_000_000, 60, breakdown(800_000, 200_000, 50_000)));
        List<EpochStats> fast = List.of(epoch(3, 25_000_000, 8000, breakdown(9_000_000, 300_000, 7_500_000)));
        Map<String, List<EpochStats>> phases = new LinkedHashMap<>();
        phases.put("flat out", fast);
        phases.put("500 p/s", slow);

        Path svg = Plots.pauseBreakdown(dir.resolve("pause-breakdown.svg"), "the test's guests", phases);

        String text = svgText(svg);
        for (String part : List.of("stop", "harvest", "copy", "device state", "disk barrier", "cont", "hand-offs",
                "other")) {
            assertTrue(text.contains(part), "the legend names the part " + part);
        }
        assertTrue(text.contains("500 p/s: 50 pages, ran 25.0 ms"), "a bar per phase, with its dirty pages and run");
        assertTrue(text.contains("bars: 500 p/s: 50 pages, ran 25.0 ms; flat out: 8000 pages, ran 25.0 ms."),
                "the bars in the order of their dirty pages: " + text);
        for (int i = 0; i < 8; i++) {
            assertEquals(2 + 1, filled(svg, Plots.PALETTE[i]), "part " + i + ": a bar in each phase, and its legend");
        }
        List<String> data = Files.readAllLines(dir.resolve("pause-breakdown.csv"), StandardCharsets.UTF_8);
        assertEquals("phase,part,mean_ms", data.get(0));
        assertTrue(data.contains("\"500 p/s: 50 pages, ran 25.0 ms\",stop,0.7000"), "the mean stop: " + data);
        assertTrue(data.contains("\"flat out: 8000 pages, ran 25.0 ms\",copy,7.5000"), "the copy: " + data);
        assertTrue(data.contains("\"500 p/s: 50 pages, ran 25.0 ms\",other,0.1000"), "the rest of the pause: " + data);
    }

    @Test
    void dirtyPagesPutsAPointPerIntervalOnEachWorkloadsLine() throws Exception {
        TreeMap<Integer, List<EpochStats>> dirtier = new TreeMap<>();
        dirtier.put(25, List.of(epoch(1, 24_000_000, 100, PauseBreakdown.NONE),
                epoch(2, 26_000_000, 120, PauseBreakdown.NONE)));
        dirtier.put(100, List.of(epoch(3, 98_000_000, 300, PauseBreakdown.NONE)));
        TreeMap<Integer, List<EpochStats>> pgbench = new TreeMap<>(Map.of(25, List.of(epoch(4, 25_000_000, 465,
                PauseBreakdown.NONE))));
        // a guest the link cannot keep up with: at 10 ms it ran longer than at 50 ms
        TreeMap<Integer, List<EpochStats>> flatOut = new TreeMap<>(Map.of(10, List.of(epoch(5, 690_000_000, 8300,
                PauseBreakdown.NONE)), 50, List.of(epoch(6, 160_000_000, 7300, PauseBreakdown.NONE))));
        Map<String, SortedMap<Integer, List<EpochStats>>> workloads = new LinkedHashMap<>();
        workloads.put("dirtier 2000 pages/s", dirtier);
        workloads.put("pgbench", pgbench);
        workloads.put("flat out", flatOut);

        Path svg = Plots.dirtyPages(dir.resolve("dirty-pages.svg"), workloads);

        String text = svgText(svg);
        assertTrue(text.contains("dirtier 2000 pages/s") && text.contains("pgbench"), "a line per workload");
        assertEquals(5 + 3, markers(svg), "a marker per interval of each workload, and one per workload in the legend");
        assertEquals(List.of("workload,run_ms,dirty_pages", "dirtier 2000 pages/s,25.000,110.0",
                "dirtier 2000 pages/s,98.000,300.0", "pgbench,25.000,465.0", "flat out,160.000,7300.0",
                "flat out,690.000,8300.0"),
                Files.readAllLines(dir.resolve("dirty-pages.csv"), StandardCharsets.UTF_8));
    }

    /**
     * The title and the description of an SVG file (XChart draws its text as outlines), once it has parsed as XML
     * whose root is an {@code svg} element.
     */
    private static String svgText(Path svg) throws Exception {
        Document doc = parse(svg);
        assertEquals("svg", doc.getDocumentElement().getTagName(), svg + " is an SVG document");
        return doc.getElementsByTagName("title").item(0).getTextContent() + "\n"
                + doc.getElementsByTagName("desc").item(0).getTextContent();
    }

    private static Document parse(Path svg) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
        return f.newDocumentBuilder().parse(svg.toFile());
    }

    /** The circles an SVG draws: the markers of the points and of the legend's entries. */
    private static int markers(Path svg) throws Exception {
        return parse(svg).getElementsByTagName("ellipse").getLength();
    }

    /** The shapes an SVG fills with {@code c}. */
    private static int filled(Path svg, Color c) throws Exception {
        String fill = "fill:rgb(" + c.getRed() + "," + c.getGreen() + "," + c.getBlue() + ")";
        String text = Files.readString(svg, StandardCharsets.UTF_8);
        return text.split(Pattern.quote(fill), -1).length - 1;
    }

    private static EpochStats epoch(long epoch, long runNanos, int dirty, PauseBreakdown b) {
        return new EpochStats(epoch, 1_000 * epoch, runNanos, dirty, b.sumNanos() + 100_000, b.copyNanos(), 0, 0, -1,
                b);
    }

    /** A QEMU pause: stop, harvest and copy as given, device state 1.1 ms, cont 0.4 ms, hand-offs 0.05 ms. */
    private static PauseBreakdown breakdown(long stop, long harvest, long copy) {
        return new PauseBreakdown(stop, harvest, copy, 1_100_000, 5_000, 400_000, 50_000);
    }
}
