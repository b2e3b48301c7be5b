package io.romulus.itests.e2e;

import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SortedMap;
import java.util.function.ToLongFunction;

import org.knowm.xchart.AnnotationLine;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.VectorGraphicsEncoder;
import org.knowm.xchart.VectorGraphicsEncoder.VectorGraphicsFormat;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.PauseBreakdown;

/**
 * The benchmarks' plots (XChart, written as SVG), each with the figures it shows beside it as CSV: the seed paper's
 * Fig. 2 (dirty pages per epoch against the run time of the epoch, per workload), its Fig. 3 (where a checkpoint's
 * pause went, stacked, per dirty rate), and the client's reply latency around a failover. Every title names the date,
 * the machine and TCG, since every figure of this project is a TCG figure of one machine.
 */
public final class Plots {

    private static final int WIDTH = 1200;
    private static final int HEIGHT = 600;
    /** The series' colours in order, then again (Okabe and Ito's, told apart by colour-blind readers too). */
    static final Color[] PALETTE = {new Color(0, 114, 178), new Color(230, 159, 0), new Color(0, 158, 115),
        new Color(204, 121, 167), new Color(86, 180, 233), new Color(213, 94, 0), new Color(240, 228, 66),
        new Color(90, 90, 90)};

    /** One line of an XY chart: its points, in the order they are drawn. */
    public record Series(String name, double[] x, double[] y) {

        public Series {
            if (x.length != y.length) {
                throw new IllegalArgumentException(name + ": " + x.length + " x values, " + y.length + " y values");
            }
        }
    }

    /** The parts of a pause, in {@link PauseBreakdown}'s order, and how to read each from an epoch's statistics. */
    private static final Map<String, ToLongFunction<EpochStats>> PARTS = parts();

    private Plots() {
    }

    private static Map<String, ToLongFunction<EpochStats>> parts() {
        Map<String, ToLongFunction<EpochStats>> m = new LinkedHashMap<>();
        m.put("stop", e -> e.breakdown().stopNanos());
        m.put("harvest", e -> e.breakdown().harvestNanos());
        m.put("copy", e -> e.breakdown().copyNanos());
        m.put("device state", e -> e.breakdown().deviceStateNanos());
        m.put("disk barrier", e -> e.breakdown().diskBarrierNanos());
        m.put("cont", e -> e.breakdown().contNanos());
        m.put("hand-offs", e -> e.breakdown().handOffNanos());
        m.put("other", e -> e.breakdown().otherNanos(e.pauseNanos()));
        return m;
    }

    /**
     * The seed's Fig. 2: for each workload, the mean dirty pages per epoch against the mean time the guest ran in the
     * epoch, one point per epoch interval the workload was checkpointed at ({@code workloads}: workload, then interval
     * in ms, then the epochs at that interval), in the order of their run times: a guest that dirties more than the
     * link carries runs longer than its interval, as the backup's ACKs allow.
     */
    public static Path dirtyPages(Path svg, Map<String, SortedMap<Integer, List<EpochStats>>> workloads)
            throws IOException {
        List<Series> series = new ArrayList<>();
        workloads.forEach((name, byInterval) -> {
            List<List<EpochStats>> runs = byInterval.values().stream().filter(l -> !l.isEmpty())
                    .sorted(Comparator.comparingDouble(l -> mean(l, EpochStats::runNanos))).toList();
            series.add(new Series(name,
                    runs.stream().mapToDouble(l -> mean(l, EpochStats::runNanos) / 1e6).toArray(),
                    runs.stream().mapToDouble(l -> mean(l, EpochStats::dirtyPages)).toArray()));
        });
        try (PrintWriter out = csv(svg, "workload,run_ms,dirty_pages")) {
            for (Series s : series) {
                for (int i = 0; i < s.x().length; i++) {
                    out.printf(Locale.ROOT, "%s,%.3f,%.1f%n", quote(s.name()), s.x()[i], s.y()[i]);
                }
            }
        }
        // a guest dirtying flat out and one dirtying 500 pages a second differ by orders of magnitude
        boolean log = series.stream().allMatch(x -> Arrays.stream(x.y()).allMatch(y -> y > 0));
        return lines(svg, "Dirty pages per epoch against run time (seed Fig. 2)", "run time per epoch (ms, mean at each"
                + " epoch interval)", "dirty pages per epoch (mean" + (log ? ", log scale)" : ")"), series, false,
                log);
    }

    /**
     * The seed's Fig. 3: where the pause of a checkpoint went, the mean of each part stacked (so each bar is the mean
     * pause), one bar per phase ({@code phases}: label, then its epochs) in the order of their dirty pages, the
     * phases told apart by {@code xAxis}.
     */
    public static Path pauseBreakdown(Path svg, String xAxis, Map<String, List<EpochStats>> given)
            throws IOException {
        Map<String, List<EpochStats>> phases = new LinkedHashMap<>();
        given.entrySet().stream().sorted(Comparator.comparingDouble(e -> mean(e.getValue(), EpochStats::dirtyPages)))
                .forEach(e -> phases.put(e.getKey(), e.getValue()));
        List<String> categories = new ArrayList<>();
        phases.forEach((label, epochs) -> categories.add(String.format(Locale.ROOT, "%s: %.0f pages, ran %.1f ms",
                label, mean(epochs, EpochStats::dirtyPages), mean(epochs, EpochStats::runNanos) / 1e6)));
        Map<String, double[]> parts = new LinkedHashMap<>();
        PARTS.forEach((part, f) -> parts.put(part, phases.values().stream().mapToDouble(l -> mean(l, f) / 1e6)
                .toArray()));
        try (PrintWriter out = csv(svg, "phase,part,mean_ms")) {
            parts.forEach((part, values) -> {
                for (int i = 0; i < values.length; i++) {
                    out.printf(Locale.ROOT, "%s,%s,%.4f%n", quote(categories.get(i)), quote(part), values[i]);
                }
            });
        }
        return stacked(svg, "Where a checkpoint's pause goes (seed Fig. 3)", xAxis, "mean per part (ms)", categories,
                parts);
    }

    /**
     * The client's reply latency around each kill, from the CSV that scripts/bench-failover writes (trial, mode,
     * milliseconds from the kill to the reply, the wait that reply ended, the reply's own latency): one line per
     * trial, the kill at 0.
     */
    public static Path failoverLatency(Path csv, Path svg) throws IOException {
        Map<String, List<double[]>> trials = new LinkedHashMap<>();
        List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        for (String line : lines.subList(1, lines.size())) {
            List<String> f = Arrays.asList(line.split(",", -1));
            if (f.size() < 5) {
                throw new IOException(csv + ": not trial,mode,ms_from_kill,wait_ms,latency_ms: " + line);
            }
            String mode = String.join(",", f.subList(1, f.size() - 3)).replace("\"", "");
            trials.computeIfAbsent("trial " + f.get(0) + " (" + mode + ")", k -> new ArrayList<>())
                    .add(new double[] {Double.parseDouble(f.get(f.size() - 3)), Double.parseDouble(f.get(f.size() - 1))});
        }
        List<Series> series = new ArrayList<>();
        trials.forEach((name, points) -> series.add(new Series(name, points.stream().mapToDouble(p -> p[0]).toArray(),
                points.stream().mapToDouble(p -> p[1]).toArray())));
        return lines(svg, "A client's reply latency around kill -9 of the primary", "reply received, ms from the kill"
                + " (the vertical line)", "the reply's latency, request sent to reply received (ms)", series, true,
                false);
    }

    /**
     * An XY chart of {@code series}: lines with markers, or with {@code points} the markers alone and a vertical line
     * at x = 0; its y axis logarithmic with {@code logY}.
     */
    static Path lines(Path svg, String what, String xAxis, String yAxis, List<Series> series, boolean points,
            boolean logY) throws IOException {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title(what)).xAxisTitle(xAxis)
                .yAxisTitle(yAxis).build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS).setMarkerSize(5)
                .setSeriesColors(PALETTE);
        chart.getStyler().setYAxisLogarithmic(logY);
        for (Series s : series) {
            XYSeries line = chart.addSeries(s.name(), s.x(), s.y());
            line.setMarker(SeriesMarkers.CIRCLE);
        }
        if (points) {
            chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            chart.addAnnotation(new AnnotationLine(0, true, false));
        }
        return write(chart, svg, "lines: " + String.join("; ", series.stream().map(Series::name).toList()));
    }

    /** A bar chart of {@code parts} (part, then its value per category) stacked in each category. */
    static Path stacked(Path svg, String what, String xAxis, String yAxis, List<String> categories,
            Map<String, double[]> parts) throws IOException {
        parts.forEach((part, values) -> {
            if (values.length != categories.size()) {
                throw new IllegalArgumentException(part + ": " + values.length + " values for " + categories.size()
                        + " categories");
            }
        });
        CategoryChart chart = new CategoryChartBuilder().width(WIDTH).height(HEIGHT).title(title(what))
                .xAxisTitle(xAxis).yAxisTitle(yAxis).build();
        chart.getStyler().setStacked(true).setXAxisLabelRotation(8).setLegendPosition(Styler.LegendPosition.OutsideE)
                .setSeriesColors(PALETTE);
        parts.forEach((part, values) -> chart.addSeries(part, categories, Arrays.stream(values).boxed().toList()));
        return write(chart, svg, "bars: " + String.join("; ", categories) + ". Stacked in each: "
                + String.join("; ", parts.keySet()));
    }

    /** What the figure shows, the date, this machine and TCG. */
    static String title(String what) {
        return String.format(Locale.ROOT, "%s · %s · %s · QEMU TCG", what, LocalDate.now(ZoneOffset.UTC), machine());
    }

    /** This machine: its name, cores, kernel and load average now. */
    static String machine() {
        String load = "?";
        try {
            load = Files.readString(Path.of("/proc/loadavg"), StandardCharsets.US_ASCII).split(" ")[0];
        } catch (IOException e) {
            // not Linux: the title says so
        }
        String host = System.getenv().getOrDefault("HOSTNAME", "");
        try {
            host = Files.readString(Path.of("/proc/sys/kernel/hostname"), StandardCharsets.US_ASCII).strip();
        } catch (IOException e) {
            // as the environment has it
        }
        return String.format(Locale.ROOT, "%s (%d cores, Linux %s, load %s)", host,
                Runtime.getRuntime().availableProcessors(), System.getProperty("os.version").split("-")[0], load);
    }

    /** Writes {@code chart} to {@code svg}, with its title and {@code desc} (what it draws) as the SVG's own. */
    private static Path write(Chart<?, ?> chart, Path svg, String desc) throws IOException {
        if (!svg.getFileName().toString().endsWith(".svg")) {
            throw new IllegalArgumentException("not an .svg file: " + svg);
        }
        Files.createDirectories(svg.toAbsolutePath().getParent());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        VectorGraphicsEncoder.saveVectorGraphic(chart, out, VectorGraphicsFormat.SVG);
        String text = out.toString(StandardCharsets.UTF_8);
        // XChart draws its text as outlines: the title and what is drawn go in as text too, for readers and search
        int at = text.indexOf('>', text.indexOf("<svg")) + 1;
        String named = "\n  <title>" + escape(chart.getTitle()) + "</title>\n  <desc>" + escape(desc) + "</desc>";
        Files.writeString(svg, text.substring(0, at) + named + text.substring(at), StandardCharsets.UTF_8);
        return svg;
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }

    /** The CSV of a figure's data, beside its SVG (same name, {@code .csv}). */
    private static PrintWriter csv(Path svg, String header) throws IOException {
        Path parent = Files.createDirectories(svg.toAbsolutePath().getParent());
        String name = svg.getFileName().toString().replaceFirst("\\.svg$", "") + ".csv";
        PrintWriter out = new PrintWriter(Files.newBufferedWriter(parent.resolve(name), StandardCharsets.UTF_8));
        out.println(header);
        return out;
    }

    private static String quote(String s) {
        return s.contains(",") || s.contains("\"") ? '"' + s.replace("\"", "\"\"") + '"' : s;
    }

    private static double mean(List<EpochStats> epochs, ToLongFunction<EpochStats> f) {
        return epochs.stream().mapToLong(f).average().orElse(0);
    }
}
