package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.qemu.internal.vm.VmDisk;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The user's disk images, made ready to be served over NBD and replicated: Romulus serves raw images, so a raw
 * image is used where it is (the VM writes to it, as under libvirt), and a qcow2 image is converted to raw once, into
 * {@code disk.dir} (PID {@code io.romulus.qemu}), with {@code qemu-img convert}; the original qcow2 image is never
 * written, and the VM runs on the converted copy from then on. A converted copy newer than its original is used
 * again, so a second protection of the same VM does not convert again.
 */
final class DiskImages {

    private static final Logger LOG = LoggerFactory.getLogger(DiskImages.class);
    /** qemu-img may take a while for a large image: at most an hour. */
    private static final long CONVERT_TIMEOUT_S = 3600;

    private final QemuSettings settings;
    private final DomainId id;

    DiskImages(QemuSettings settings, DomainId id) {
        this.settings = settings;
        this.id = id;
    }

    /** The disks with every image raw and readable; converts qcow2 images (see above). */
    List<VmDisk> prepare(List<VmDisk> disks) throws HypervisorException, InterruptedException {
        List<VmDisk> out = new ArrayList<>();
        for (VmDisk d : disks) {
            Path image = Path.of(d.file());
            if (!Files.isRegularFile(image) || !Files.isReadable(image)) {
                throw new HypervisorException(id + " disk " + d.dev() + ": " + image + " is not a readable file");
            }
            if (!Files.isWritable(image) && d.format().equals("raw") && !d.readOnly()) {
                throw new HypervisorException(id + " disk " + d.dev() + ": " + image + " is not writable");
            }
            out.add(d.format().equals("raw") ? d : converted(d, image));
        }
        return out;
    }

    private VmDisk converted(VmDisk d, Path qcow2) throws HypervisorException, InterruptedException {
        Path raw = settings.diskDir().resolve(id.name() + "-" + d.dev() + ".raw");
        try {
            Files.createDirectories(settings.diskDir());
            if (Files.exists(raw) && Files.getLastModifiedTime(raw).compareTo(Files.getLastModifiedTime(qcow2)) > 0) {
                LOG.info("{} disk {}: using {}, converted earlier from the qcow2 image {} (delete it to convert "
                        + "again)", id, d.dev(), raw, qcow2);
                return new VmDisk(raw.toString(), "raw", d.bus(), d.dev(), d.readOnly(), d.discard());
            }
        } catch (IOException e) {
            throw new HypervisorException(id + " disk " + d.dev() + ": cannot use " + settings.diskDir()
                    + " (disk.dir) for the raw copy of " + qcow2 + ": " + e.getMessage(), e);
        }
        LOG.info("{} disk {}: {} is a qcow2 image; Romulus serves and replicates raw images, so it is converted once "
                + "to {} (the qcow2 image is left as it is, and the VM runs on the raw copy from now on)", id,
                d.dev(), qcow2, raw);
        long start = System.nanoTime();
        Path partial = raw.resolveSibling(raw.getFileName() + ".partial");
        QemuProcess.run(List.of("qemu-img", "convert", "-f", "qcow2", "-O", "raw", qcow2.toString(),
                partial.toString()), CONVERT_TIMEOUT_S);
        try {
            Files.move(partial, raw, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            LOG.info("{} disk {}: converted to {} ({} MiB) in {} s", id, d.dev(), raw, Files.size(raw) >> 20,
                    TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start));
        } catch (IOException e) {
            throw new HypervisorException(id + " disk " + d.dev() + ": cannot finish the raw copy " + raw + ": "
                    + e.getMessage(), e);
        }
        return new VmDisk(raw.toString(), "raw", d.bus(), d.dev(), d.readOnly(), d.discard());
    }
}
