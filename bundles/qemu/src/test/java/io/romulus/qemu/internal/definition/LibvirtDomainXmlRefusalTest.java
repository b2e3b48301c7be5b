package io.romulus.qemu.internal.definition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One refusal per family of what the qemu binding does not run: each edit of {@link LibvirtDomainXmlTest#MINIMAL}
 * (which is accepted as it is) must be refused with a message that names the element by its path.
 */
class LibvirtDomainXmlRefusalTest {

    private static final String MINIMAL = LibvirtDomainXmlTest.MINIMAL;
    private static final String DISK = "<target dev='vda' bus='virtio'/>\n    </disk>";
    private static final String NIC = "<model type='virtio'/>";
    private static final String DEVICES = "<memballoon model='none'/>";

    /**
     * @param family   what is refused
     * @param find     text of {@link #MINIMAL} to replace
     * @param replace  what replaces it
     * @param expected what the message must contain
     */
    record Edit(String family, String find, String replace, String expected) {

        String xml() {
            String xml = MINIMAL.replace(find, replace);
            assertNotEquals(MINIMAL, xml, "the edit '" + family + "' must change the XML");
            return xml;
        }

        @Override
        public String toString() {
            return family;
        }
    }

    static Stream<Edit> edits() {
        String n = "domain/devices/interface[52:54:00:00:00:01]";
        return Stream.of(
                new Edit("domain type", "<domain type='kvm'>", "<domain type='xen'>",
                        "domain/@type='xen' is not supported by the qemu binding: the domain type is kvm or qemu"),
                new Edit("no name", "<name>web</name>", "", "domain/name is missing"),
                new Edit("unknown element", "<clock offset='utc'/>",
                        "<clock offset='utc'/><cputune><shares>2048</shares></cputune>",
                        "domain/cputune is not supported by the qemu binding"),
                new Edit("QEMU command line", "</devices>", "</devices><qemu:commandline"
                        + " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:arg value='-s'/>"
                        + "</qemu:commandline>", "domain/qemu:commandline is not supported by the qemu binding"),
                new Edit("unknown attribute", "<disk type='file' device='disk'>",
                        "<disk type='file' device='disk' snapshot='no'>",
                        "domain/devices/disk[vda]/@snapshot='no' is not supported by the qemu binding"),
                new Edit("text where none belongs", "<acpi/>", "<acpi>on</acpi>",
                        "domain/features/acpi is not supported by the qemu binding: it holds text ('on')"),
                new Edit("an element twice", "<vcpu>2</vcpu>", "<vcpu>2</vcpu><vcpu>4</vcpu>",
                        "domain/vcpu[2] is not supported by the qemu binding: only one <vcpu> is understood"),
                // memory
                new Edit("ballooning", "<vcpu>", "<currentMemory unit='MiB'>128</currentMemory><vcpu>",
                        "domain/currentMemory is not supported by the qemu binding: ballooning is not supported"),
                new Edit("memory backing", "<vcpu>", "<memoryBacking><hugepages/></memoryBacking><vcpu>",
                        "domain/memoryBacking is not supported by the qemu binding"),
                new Edit("memory hotplug", "<vcpu>", "<maxMemory slots='16' unit='KiB'>16777216</maxMemory><vcpu>",
                        "domain/maxMemory is not supported by the qemu binding"),
                // vCPUs and CPU
                new Edit("vCPU hotplug", "<vcpu>2</vcpu>", "<vcpu current='1'>2</vcpu>",
                        "domain/vcpu/@current='1' is not supported by the qemu binding: vCPU hotplug"),
                new Edit("vCPU placement", "<vcpu>2</vcpu>", "<vcpu placement='auto'>2</vcpu>",
                        "domain/vcpu/@placement='auto' is not supported by the qemu binding"),
                new Edit("CPU feature", "<os>", "<cpu mode='custom'><model>Haswell-noTSX</model>"
                        + "<feature policy='require' name='vmx'/></cpu><os>",
                        "domain/cpu/feature[vmx] is not supported by the qemu binding"),
                new Edit("CPU mode", "<os>", "<cpu mode='maximum'/><os>",
                        "domain/cpu/@mode='maximum' is not supported by the qemu binding"),
                new Edit("CPU not migratable", "<os>", "<cpu mode='host-passthrough' migratable='off'/><os>",
                        "domain/cpu/@migratable='off' is not supported by the qemu binding: checkpoints are"
                                + " migrations"),
                new Edit("CPU topology", "<os>", "<cpu><topology sockets='1' cores='1' threads='1'/></cpu><os>",
                        "domain/cpu/topology has 1 sockets x 1 cores x 1 threads, which is not the 2 vCPUs"),
                new Edit("NUMA", "<os>", "<cpu><numa><cell id='0' cpus='0-1' memory='262144'/></numa></cpu><os>",
                        "domain/cpu/numa is not supported by the qemu binding"),
                new Edit("CPU model injection", "<os>", "<cpu mode='custom'><model>host,+vmx</model></cpu><os>",
                        "domain/cpu/model must name a QEMU CPU model"),
                // os and boot
                new Edit("architecture", "arch='x86_64'", "arch='i686'",
                        "domain/os/type/@arch='i686' is not supported by the qemu binding"),
                new Edit("machine", "machine='pc'", "machine='isapc'",
                        "domain/os/type/@machine='isapc' is not supported by the qemu binding"),
                new Edit("OS type", ">hvm</type>", ">xen</type>",
                        "domain/os/type 'xen' is not supported by the qemu binding"),
                new Edit("UEFI loader", "<boot dev='hd'/>", "<loader readonly='yes' type='pflash'>"
                        + "/usr/share/OVMF/OVMF_CODE.fd</loader><nvram>/var/lib/libvirt/qemu/nvram/web_VARS.fd</nvram>",
                        "domain/os/loader is not supported by the qemu binding: only BIOS (SeaBIOS) boot and direct"
                                + " kernel boot are supported"),
                new Edit("UEFI nvram", "<boot dev='hd'/>", "<nvram>/var/lib/libvirt/qemu/nvram/web_VARS.fd</nvram>",
                        "domain/os/nvram is not supported by the qemu binding: only BIOS (SeaBIOS) boot"),
                new Edit("UEFI firmware", "<os>", "<os firmware='efi'>",
                        "domain/os/@firmware='efi' is not supported by the qemu binding: only BIOS (SeaBIOS) boot"),
                new Edit("boot from CD-ROM", "<boot dev='hd'/>", "<boot dev='cdrom'/><boot dev='hd'/>",
                        "domain/os/boot[cdrom] is not supported by the qemu binding"),
                new Edit("boot from the network", "<boot dev='hd'/>", "<boot dev='network'/>",
                        "domain/os/boot[network] is not supported by the qemu binding"),
                new Edit("boot menu", "<boot dev='hd'/>", "<boot dev='hd'/><bootmenu enable='yes' timeout='3000'/>",
                        "domain/os/bootmenu/@enable='yes' is not supported by the qemu binding"),
                new Edit("SMBIOS", "<boot dev='hd'/>", "<boot dev='hd'/><smbios mode='host'/>",
                        "domain/os/smbios is not supported by the qemu binding"),
                new Edit("BIOS serial", "<boot dev='hd'/>", "<boot dev='hd'/><bios useserial='yes'/>",
                        "domain/os/bios is not supported by the qemu binding"),
                new Edit("initrd without kernel", "<boot dev='hd'/>", "<initrd>/boot/initrd.img</initrd>",
                        "domain/os/initrd goes with a domain/os/kernel"),
                new Edit("relative kernel", "<boot dev='hd'/>", "<kernel>vmlinuz</kernel>",
                        "domain/os/kernel must be an absolute path on the host, not 'vmlinuz'"),
                // disks
                new Edit("CD-ROM", DEVICES, DEVICES + "<disk type='file' device='cdrom'><driver name='qemu'"
                        + " type='raw'/><target dev='hdc' bus='ide'/><readonly/></disk>",
                        "domain/devices/disk[hdc]/@device='cdrom' is not supported by the qemu binding"),
                new Edit("floppy", DEVICES, DEVICES + "<disk type='file' device='floppy'><source"
                        + " file='/images/boot.img'/><target dev='fda' bus='fdc'/></disk>",
                        "domain/devices/disk[fda]/@device='floppy' is not supported by the qemu binding"),
                new Edit("LUN", DEVICES, DEVICES + "<disk type='block' device='lun'><source dev='/dev/sdb'/>"
                        + "<target dev='sda' bus='scsi'/></disk>",
                        "domain/devices/disk[sda]/@type='block' is not supported by the qemu binding"),
                new Edit("block device", "<disk type='file' device='disk'>", "<disk type='block' device='disk'>",
                        "domain/devices/disk[vda]/@type='block' is not supported by the qemu binding: a disk is an"
                                + " image file on the host"),
                new Edit("network disk", DEVICES, DEVICES + "<disk type='network' device='disk'><source"
                        + " protocol='rbd' name='pool/image'/><target dev='vdb' bus='virtio'/></disk>",
                        "domain/devices/disk[vdb]/@type='network' is not supported by the qemu binding"),
                new Edit("volume disk", DEVICES, DEVICES + "<disk type='volume' device='disk'><source pool='default'"
                        + " volume='data.qcow2'/><target dev='vdb' bus='virtio'/></disk>",
                        "domain/devices/disk[vdb]/@type='volume' is not supported by the qemu binding"),
                new Edit("image format", "type='raw'/>", "type='vmdk'/>",
                        "domain/devices/disk[vda]/driver/@type='vmdk' is not supported by the qemu binding"),
                new Edit("cache mode", "type='raw'/>", "type='raw' cache='sometimes'/>",
                        "domain/devices/disk[vda]/driver/@cache='sometimes' is not supported by the qemu binding"),
                new Edit("driver attribute", "type='raw'/>", "type='raw' error_policy='stop'/>",
                        "domain/devices/disk[vda]/driver/@error_policy='stop' is not supported by the qemu binding"),
                new Edit("disk bus", "bus='virtio'/>", "bus='scsi'/>",
                        "domain/devices/disk[vda]/target/@bus='scsi' is not supported by the qemu binding"),
                new Edit("relative image", "file='/images/web.img'", "file='web.img'",
                        "domain/devices/disk[vda]/source/@file='web.img' must be an absolute path"),
                new Edit("backing chain", DISK, "<target dev='vda' bus='virtio'/><backingStore type='file'><format"
                        + " type='raw'/><source file='/images/base.img'/></backingStore></disk>",
                        "domain/devices/disk[vda]/backingStore is not supported by the qemu binding"),
                new Edit("disk serial", DISK, "<target dev='vda' bus='virtio'/><serial>WD-1234</serial></disk>",
                        "domain/devices/disk[vda]/serial is not supported by the qemu binding"),
                new Edit("shared disk", DISK, "<target dev='vda' bus='virtio'/><shareable/></disk>",
                        "domain/devices/disk[vda]/shareable is not supported by the qemu binding"),
                new Edit("read-only SATA disk", DISK, "<target dev='sda' bus='sata'/><readonly/></disk>",
                        "domain/devices/disk[sda]/readonly is not supported by the qemu binding: QEMU has read-only"
                                + " disks on virtio only"),
                new Edit("boot disk not first", DEVICES, DEVICES + "<disk type='file' device='disk'><source"
                        + " file='/images/boot.img'/><target dev='vdb' bus='virtio'/><boot order='1'/></disk>",
                        "domain/devices/disk[vdb]/boot has the lowest boot order, but SeaBIOS boots the VM's first"
                                + " disk (vda)"),
                // NICs
                new Edit("libvirt network", "<interface type='bridge'>\n      <mac address='52:54:00:00:00:01'/>\n"
                        + "      <source bridge='br0'/>", "<interface type='network'>\n      <mac"
                        + " address='52:54:00:00:00:01'/>\n      <source network='default'/>",
                        n + "/@type='network' is not supported by the qemu binding: give the bridge that libvirt"
                                + " network uses instead, as <interface type='bridge'><source bridge='BRIDGE'/>"
                                + " (virsh net-info default names it)"),
                new Edit("user networking", "<interface type='bridge'>", "<interface type='user'>",
                        n + "/@type='user' is not supported by the qemu binding"),
                new Edit("macvtap", "<interface type='bridge'>", "<interface type='direct'>",
                        n + "/@type='direct' is not supported by the qemu binding"),
                new Edit("no MAC", "<mac address='52:54:00:00:00:01'/>", "",
                        "domain/devices/interface[1] has no <mac address='...'/>: a replicated VM must keep its MAC"
                                + " address on failover"),
                new Edit("multicast MAC", "52:54:00:00:00:01", "53:54:00:00:00:01",
                        "/mac/@address='53:54:00:00:00:01' is not a unicast MAC address"),
                new Edit("e1000e", NIC, "<model type='e1000e'/>",
                        n + "/model/@type='e1000e' is not supported by the qemu binding: use e1000 or virtio"),
                new Edit("rtl8139", NIC, "<model type='rtl8139'/>",
                        n + "/model/@type='rtl8139' is not supported by the qemu binding"),
                new Edit("no NIC model", NIC, "", n + " has no <model type='...'/>: give virtio or e1000"),
                new Edit("NIC driver", NIC, NIC + "<driver name='vhost' queues='4'/>",
                        n + "/driver is not supported by the qemu binding"),
                new Edit("link down", NIC, NIC + "<link state='down'/>",
                        n + "/link/@state='down' is not supported by the qemu binding"),
                new Edit("MTU", NIC, NIC + "<mtu size='9000'/>",
                        n + "/mtu/@size='9000' is not supported by the qemu binding"),
                new Edit("filterref", NIC, NIC + "<filterref filter='clean-traffic'/>",
                        n + "/filterref is not supported by the qemu binding"),
                new Edit("bandwidth", NIC, NIC + "<bandwidth><inbound average='1000'/></bandwidth>",
                        n + "/bandwidth is not supported by the qemu binding"),
                new Edit("network boot", NIC, NIC + "<boot order='1'/>",
                        n + "/boot is not supported by the qemu binding: the VM does not boot from the network"),
                new Edit("Open vSwitch", NIC, NIC + "<virtualport type='openvswitch'/>",
                        n + "/virtualport is not supported by the qemu binding"),
                new Edit("bad bridge name", "bridge='br0'", "bridge='br0/../x'",
                        n + "/source/@bridge='br0/../x' is not a Linux interface name"),
                // clock
                new Edit("kvmclock", "<clock offset='utc'/>", "<clock offset='utc'><timer name='kvmclock'"
                        + " present='yes'/></clock>", "domain/clock/timer[kvmclock] is not supported by the qemu binding"),
                new Edit("TSC", "<clock offset='utc'/>", "<clock offset='utc'><timer name='tsc' mode='native'/></clock>",
                        "domain/clock/timer[tsc] is not supported by the qemu binding"),
                new Edit("Hyper-V clock", "<clock offset='utc'/>", "<clock offset='localtime'><timer"
                        + " name='hypervclock' present='yes'/></clock>",
                        "domain/clock/timer[hypervclock] is not supported by the qemu binding"),
                new Edit("RTC tick policy", "<clock offset='utc'/>", "<clock offset='utc'><timer name='rtc'"
                        + " tickpolicy='delay'/></clock>",
                        "domain/clock/timer[rtc]/@tickpolicy='delay' is not supported by the qemu binding"),
                new Edit("clock offset", "<clock offset='utc'/>", "<clock offset='variable' adjustment='3600'/>",
                        "domain/clock/@offset='variable' is not supported by the qemu binding"),
                // lifecycle, power management, features
                new Edit("crash action", "<devices>", "<on_crash>coredump-destroy</on_crash><devices>",
                        "domain/on_crash 'coredump-destroy' is not supported by the qemu binding"),
                new Edit("lock failure action", "<devices>", "<on_lockfailure>poweroff</on_lockfailure><devices>",
                        "domain/on_lockfailure is not supported by the qemu binding"),
                new Edit("power management", "<devices>", "<pm><suspend-to-mem enabled='maybe'/></pm><devices>",
                        "domain/pm/suspend-to-mem/@enabled='maybe' is not supported by the qemu binding"),
                new Edit("Hyper-V", "<apic/>", "<apic/><hyperv mode='custom'><relaxed state='on'/></hyperv>",
                        "domain/features/hyperv is not supported by the qemu binding"),
                new Edit("SMM", "<apic/>", "<apic/><smm state='on'/>",
                        "domain/features/smm is not supported by the qemu binding"),
                new Edit("VMware port", "<apic/>", "<apic/><vmport state='on'/>",
                        "domain/features/vmport/@state='on' is not supported by the qemu binding"),
                // serial, console
                new Edit("second serial port", "<serial type='pty'/>", "<serial type='pty'/><serial type='pty'>"
                        + "<target port='1'/></serial>",
                        "domain/devices/serial[2] is not supported by the qemu binding: the VM has one serial port"),
                new Edit("TCP serial port", "<serial type='pty'/>", "<serial type='tcp'><source mode='bind'"
                        + " host='0.0.0.0' service='4555'/></serial>",
                        "domain/devices/serial/@type='tcp' is not supported by the qemu binding"),
                new Edit("virtio console", "<serial type='pty'/>", "<console type='pty'><target type='virtio'"
                        + " port='0'/></console>",
                        "domain/devices/console/target/@type='virtio' is not supported by the qemu binding"),
                // controllers, input, balloon
                new Edit("SCSI controller", DEVICES, DEVICES + "<controller type='scsi' index='0'"
                        + " model='virtio-scsi'/>", "domain/devices/controller[scsi] is not supported by the qemu"
                        + " binding: give the disks bus virtio, sata or ide"),
                new Edit("PCI bridge", DEVICES, DEVICES + "<controller type='pci' index='1' model='pci-bridge'/>",
                        "domain/devices/controller[pci]/@model='pci-bridge' is not supported by the qemu binding"),
                new Edit("virtio keyboard", DEVICES, DEVICES + "<input type='keyboard' bus='virtio'/>",
                        "domain/devices/input[keyboard]/@bus='virtio' is not supported by the qemu binding"),
                new Edit("passthrough input", DEVICES, DEVICES + "<input type='passthrough' bus='virtio'><source"
                        + " evdev='/dev/input/event1'/></input>",
                        "domain/devices/input[passthrough]/@type='passthrough' is not supported by the qemu binding"),
                new Edit("balloon", DEVICES, "<memballoon model='virtio'><stats period='10'/></memballoon>",
                        "domain/devices/memballoon/@model='virtio' is not supported by the qemu binding: ballooning"
                                + " is not supported"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("edits")
    void isRefusedNamingTheElement(Edit edit) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LibvirtDomainXml.parse(edit.xml()));
        assertTrue(e.getMessage().contains(edit.expected()), "expected '" + edit.expected() + "' in: "
                + e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"rng", "channel", "sound", "hostdev", "filesystem", "redirdev", "smartcard", "tpm",
        "watchdog", "panic", "shmem", "iommu", "parallel", "vsock", "hub"})
    void devicesTheBindingDoesNotGiveAreRefusedByName(String device) {
        String xml = MINIMAL.replace(DEVICES, DEVICES + "<" + device + " model='x'><alias name='" + device
                + "0'/></" + device + ">");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LibvirtDomainXml.parse(xml));
        assertEquals("domain/devices/" + device + " is not supported by the qemu binding", e.getMessage());
    }

    @Test
    void theMinimalDomainItselfIsAccepted() {
        assertEquals("web", LibvirtDomainXml.parse(MINIMAL).name());
    }

    @Test
    void everyProblemIsNamedAtOnce() {
        String xml = MINIMAL.replace("<domain type='kvm'>", "<domain type='lxc'>")
                .replace("arch='x86_64'", "arch='aarch64'")
                .replace(DEVICES, "<memballoon model='virtio'/><hostdev mode='subsystem' type='pci'/>");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LibvirtDomainXml.parse(xml));
        assertTrue(e.getMessage().startsWith("4 problems in the libvirt domain XML:\n  domain/@type='lxc'"),
                e.getMessage());
        for (String path : new String[] {"domain/os/type/@arch='aarch64'", "domain/devices/memballoon/@model='virtio'",
            "domain/devices/hostdev"}) {
            assertTrue(e.getMessage().contains("\n  " + path + " is not supported"), path + " in " + e.getMessage());
        }
    }
}
