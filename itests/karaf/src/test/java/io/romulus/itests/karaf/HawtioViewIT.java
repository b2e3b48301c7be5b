package io.romulus.itests.karaf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.function.Function;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The Romulus view in Hawtio, in a real browser: headless Chromium (Debian's {@code chromium} and
 * {@code chromium-driver}) driven by Selenium against a node of the assembly that protects a synthetic domain over
 * loopback. The node runs as a process ({@link KarafNode}), not under Pax Exam: the browser and Selenium live in this
 * JVM, outside the container. An admin sees the domain's numbers move (its epoch grows, the pause chart fills),
 * opens the domain's MBean and the Engine MBean and never sees {@code [object Object]}; a viewer sees the same view
 * and is refused a failover (the JMX ACLs, through Hawtio's Jolokia). Screenshots go to {@code target/hawtio/}.
 */
class HawtioViewIT {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(HawtioViewIT.class);

    private static final Path WORK = Path.of("target/hawtio").toAbsolutePath();
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final String DOMAIN = "sim:hawtio";
    private static final String VIEWER = "hawtio-viewer";
    private static final String VIEWER_PASSWORD = "viewer-" + Long.toHexString(new SecureRandom().nextLong());
    private static final By ROW = By.cssSelector("tr.romulus-domain[data-domain='" + DOMAIN + "']");

    private static final long START = System.nanoTime();

    private static KarafNode node;
    private static WebDriver browser;

    @BeforeAll
    static void startNodeAndBrowser() throws Exception {
        for (Path tool : List.of(CHROMIUM, CHROMEDRIVER)) {
            if (!Files.isExecutable(tool)) {
                fail("HawtioViewIT needs " + tool + " (Debian's " + (tool.equals(CHROMIUM) ? "chromium" : "chromium-driver")
                        + " package; scripts/prerequisites.sh installs it)");
            }
        }
        Path assembly = Path.of(System.getProperty("romulus.assembly", "../../assembly/target/"
                + "io.romulus.assembly-0.1.0-SNAPSHOT.tar.gz"));
        if (!Files.isRegularFile(assembly)) {
            fail("the Romulus assembly was not built: expected it at " + assembly
                    + " (run the itests through the reactor: mvn verify)");
        }
        KarafNode.run(List.of("rm", "-rf", WORK.toString()), 60);
        node = new KarafNode("hawtio", WORK.resolve("node"), WORK.resolve("run"), 28300, "");
        byte[] secret = new byte[32];
        new SecureRandom().nextBytes(secret);
        node.unpack(assembly, Base64.getEncoder().encodeToString(secret));
        // a viewer of the group bin/setenv defines (etc/org.apache.karaf.command.acl.romulus.cfg, jmx.acl.*)
        bootOnlyWhatTheViewNeeds();
        Files.writeString(node.home.resolve("etc/users.properties"), "\n" + VIEWER + " = " + VIEWER_PASSWORD
                + ",_g_:viewergroup\n", StandardOpenOption.APPEND);
        node.start();
        log("node started");
        RomulusTestSupport.await(node + " answers on Jolokia with the Engine MBean", 180,
                () -> node.mbeanPresent(EpochRecorder.ENGINE));
        node.shell("romulus:protect " + DOMAIN + " --peer 127.0.0.1:" + node.streamPort + " --heartbeat 127.0.0.1:"
                + node.heartbeatPort + " --interval 100 -o memory=16M -o dirty-rate=2000");

        log("domain protected");
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        // as root (CI runs as root) Chromium starts only without its sandbox
        options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1600,1000");
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                .withLogFile(WORK.resolve("chromedriver.log").toFile()).build();
        browser = new ChromeDriver(service, options);
        log("browser started");
    }

    /**
     * The umbrella feature {@code romulus} boots every binding; the view needs the engine, the sim binding and
     * Hawtio, and the node boots in half the time without the rest.
     */
    private static void bootOnlyWhatTheViewNeeds() throws IOException {
        Path cfg = node.home.resolve("etc/org.apache.karaf.features.cfg");
        String text = Files.readString(cfg);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)([=,\\s])romulus/([^,\\s]+)").matcher(text);
        if (!m.find()) {
            fail("etc/org.apache.karaf.features.cfg of the assembly boots no romulus feature: " + text);
        }
        Files.writeString(cfg, m.replaceFirst(m.group(1) + "management, romulus-sim/" + m.group(2) + ", romulus-hawtio/"
                + m.group(2)));
    }

    private static void log(String what) {
        LOG.info(String.format(java.util.Locale.ROOT, "%6.1f s  %s", (System.nanoTime() - START) / 1e9, what));
    }

    @AfterAll
    static void stop() {
        if (browser != null) {
            browser.quit();
        }
        if (node != null) {
            node.stop();
        }
    }

    @Test
    void anAdminWatchesThePairAndAViewerCannotFailOver() throws Exception {
        login("admin", node.adminPassword());
        openRomulusView();
        WebElement row = waitFor("the row of " + DOMAIN + " in the Romulus view, PROTECTED", 60, b -> {
            List<WebElement> rows = b.findElements(ROW);
            return !rows.isEmpty() && text(rows.get(0), "romulus-state").startsWith("PROTECTED") ? rows.get(0) : null;
        });
        assertEquals("PRIMARY", text(row, "romulus-role"));
        assertEquals("127.0.0.1:" + node.streamPort, text(row, "romulus-peer"));
        long first = Long.parseLong(text(row, "romulus-epoch"));
        long later = waitFor("the epoch to grow past " + first, 10, b -> {
            long now = Long.parseLong(text(b.findElement(ROW), "romulus-epoch"));
            return now > first ? now : null;
        });
        assertTrue(later > first);
        assertTrue(Double.parseDouble(text(row, "romulus-rate")) > 0, "epochs per second");
        // the engine's own CPU time: per checkpoint, per second, both figures once checkpoints were taken
        String cpu = waitFor("the engine's CPU time", 15, b -> {
            String c = text(b.findElement(ROW), "romulus-cpu");
            return c.matches("[0-9][0-9,.]*, [0-9][0-9,.]*") ? c : null;
        });
        assertTrue(!cpu.startsWith("0,"), "some CPU time per checkpoint: " + cpu);
        // the pause chart: one point a second, the newest pause on the right, scaled to a non-zero top
        String points = waitFor("five points in the pause chart", 15, b -> {
            String p = b.findElement(By.cssSelector(".romulus-charts[data-domain='" + DOMAIN
                    + "'] .romulus-chart-pause polyline")).getAttribute("points");
            return p != null && p.trim().split(" ").length >= 5 ? p : null;
        });
        assertTrue(points.matches("[0-9., ]+"), points);
        WebElement pauseMax = browser.findElement(By.cssSelector(".romulus-charts[data-domain='" + DOMAIN
                + "'] .romulus-pause-max"));
        assertTrue(Double.parseDouble(pauseMax.getText()) > 0, "the pauses are not all 0: " + pauseMax.getText());
        assertNoObjectObject("the Romulus view");
        screenshot("romulus-view-admin");
        log("the admin's view checked");

        // the domain's own MBean, in Hawtio's JMX tab, by the view's link
        browser.findElement(ROW).findElement(By.cssSelector("a.romulus-mbean")).click();
        // Hawtio humanizes the attributes' names
        waitFor("the attributes of the domain's MBean", 30, b -> (body().contains("Checkpoints per second")
                && body().contains("P 99 pause micros") && body().contains("PROTECTED")) ? Boolean.TRUE : null);
        assertNoObjectObject("the domain's MBean");
        screenshot("protection-mbean");
        // and the Engine's: its Status and Alarms are tables of strings, which Hawtio shows as key=value lines
        openRomulusView();
        waitFor("the Engine MBean's link", 30, b -> b.findElements(By.id("romulus-engine")).isEmpty() ? null
                : Boolean.TRUE);
        browser.findElement(By.id("romulus-engine")).click();
        try {
            waitFor("the Engine's Status in the JMX tab", 30,
                    b -> body().contains(DOMAIN + " BACKUP=PROTECTED, epoch ") ? Boolean.TRUE : null);
        } catch (RuntimeException e) {
            // seen once in a CI run (Status and Alarms shown as [object Object]) and never again: what Jolokia itself
            // answers for the two attributes then tells an empty or failed read from Hawtio's rendering
            throw new AssertionError("the Engine's Status not shown in the JMX tab; Jolokia reads Status as "
                    + node.jolokia(KarafNode.read(EpochRecorder.ENGINE, "Status")) + " and Alarms as "
                    + node.jolokia(KarafNode.read(EpochRecorder.ENGINE, "Alarms")) + "; the page:\n" + body(), e);
        }
        assertNoObjectObject("the Engine MBean");
        screenshot("engine-mbean");
        // back in the view, the charts kept what they drew meanwhile (docs/img/hawtio-romulus.png is this one)
        openRomulusView();
        waitFor("30 points in the dirty rate chart", 30, b -> b.findElement(By.cssSelector(".romulus-charts[data-domain='"
                + DOMAIN + "'] .romulus-chart-dirty polyline")).getAttribute("points").trim().split(" ").length >= 30
                ? Boolean.TRUE : null);
        screenshot("romulus-view");

        logout();
        login(VIEWER, VIEWER_PASSWORD);
        openRomulusView();
        row = waitFor("the viewer's row of " + DOMAIN, 60, b -> b.findElements(ROW).isEmpty() ? null
                : b.findElement(ROW));
        row.findElement(By.cssSelector("button.romulus-failover")).click();
        String message = waitFor("the answer to the viewer's failover", 15, b -> {
            List<WebElement> m = b.findElements(By.id("romulus-message"));
            return m.isEmpty() || m.get(0).getText().endsWith("...") ? null : m.get(0).getText();
        });
        screenshot("romulus-view-viewer");
        assertTrue(message.startsWith("Failover of " + DOMAIN + " refused: "), message);
        // the NetBuffer MBean's lines as HotUpgradeIT reads them: the sim domain's output is released
        List<long[]> buffers = KarafNode.bufferCounters(node.jolokia(KarafNode.read(
                "io.romulus:type=NetBuffer,name=outputs", "Buffers")));
        assertTrue(!buffers.isEmpty() && buffers.get(0)[2] > 0, "packets released");
                // nothing happened: the domain is still protected here, as the primary
        assertEquals("PROTECTED", KarafNode.state(node.jolokia(KarafNode.read(EpochRecorder.ENGINE, "Status")),
                DOMAIN, "PRIMARY").orElse("absent"));
        assertNoObjectObject("the viewer's Romulus view");
        log("the viewer's failover refused");
    }

    private static void login(String user, String password) {
        browser.get(base() + "/hawtio/login");
        WebElement name = waitFor("Hawtio's login form", 60, b -> b.findElements(By.id("username")).isEmpty() ? null
                : b.findElement(By.id("username")));
        name.sendKeys(user);
        browser.findElement(By.id("password")).sendKeys(password);
        browser.findElement(By.cssSelector("button[type='submit']")).click();
        waitFor(user + " logged in", 60, b -> b.getCurrentUrl().contains("/login") ? null : Boolean.TRUE);
    }

    /** Hawtio's logout ends the session; the browser forgets its cookies as well. */
    private static void logout() {
        browser.get(base() + "/hawtio/auth/logout");
        browser.manage().deleteAllCookies();
    }

    /** The Romulus tab, by the main navigation as a user finds it. */
    private static void openRomulusView() {
        WebElement tab = waitFor("the Romulus tab in Hawtio's navigation", 60, b -> {
            List<WebElement> links = b.findElements(By.xpath("//a[normalize-space(.)='Romulus']"));
            return links.isEmpty() ? null : links.get(0);
        });
        tab.click();
        waitFor("the Romulus view", 30, b -> b.findElements(By.id("romulus-view")).isEmpty() ? null : Boolean.TRUE);
    }

    private static String body() {
        return browser.findElement(By.tagName("body")).getText();
    }

    private static void assertNoObjectObject(String where) {
        String page = body();
        assertFalse(page.contains("[object Object]"), where + " shows [object Object]:\n" + page);
    }

    private static String text(WebElement row, String cssClass) {
        return row.findElement(By.className(cssClass)).getText().trim();
    }

    private static <T> T waitFor(String what, long seconds, Function<WebDriver, T> condition) {
        try {
            return new WebDriverWait(browser, Duration.ofSeconds(seconds)).withMessage(what).until(condition);
        } catch (RuntimeException e) {
            screenshot("failed");
            throw e;
        }
    }

    private static void screenshot(String name) {
        try {
            Path png = ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE).toPath();
            Files.copy(png, WORK.resolve(name + ".png"), StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            LOG.warn("no screenshot {}: {}", name, e.toString());
        }
    }

    private static String base() {
        return "http://127.0.0.1:" + node.httpPort;
    }
}
