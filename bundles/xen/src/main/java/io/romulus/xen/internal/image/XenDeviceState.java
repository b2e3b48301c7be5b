package io.romulus.xen.internal.image;

import io.romulus.xen.internal.xc.XenControl.TscInfo;

/**
 * Everything but memory that a Xen replica needs to be restorable: the opaque device state of the hypervisor SPI for
 * the {@code xen} binding, captured by the primary at the end of each epoch and applied by the backup with the epoch.
 * Each state is self-contained (nothing is "unchanged since last time"), so that any one committed epoch alone makes
 * a complete image.
 *
 * @param xenMajor          Xen's major version on the primary (the image's domain header)
 * @param xenMinor          Xen's minor version
 * @param domainType        {@link StreamFormat#DOMAIN_X86_HVM} or {@link StreamFormat#DOMAIN_X86_PVH}
 * @param domainXml         libvirt's XML of the domain (with secure parts), for the image's libvirt header
 * @param gpfnRanges        the guest's populated page frames as pairs {@code start, count}, ascending and disjoint:
 *                          engine page {@code i} (a slot of the replica) is the {@code i}-th populated guest pfn
 * @param cpuidPolicy       the {@code X86_CPUID_POLICY} record body ({@code xen_cpuid_leaf_t[]}), may be empty
 * @param msrPolicy         the {@code X86_MSR_POLICY} record body ({@code xen_msr_entry_t[]}), may be empty
 * @param tsc               the {@code X86_TSC_INFO} record
 * @param hvmParams         the {@code HVM_PARAMS} record as pairs {@code index, value}
 * @param hvmContext        the {@code HVM_CONTEXT} blob
 * @param emulatorXenstore  the device model's xenstore keys as packed NUL-terminated key/value pairs
 *                          ({@code EMULATOR_XENSTORE_DATA}), or {@code null} when the domain has no device model
 * @param emulatorContext   the device model's saved state ({@code EMULATOR_CONTEXT}), or {@code null} when none
 */
public record XenDeviceState(int xenMajor, int xenMinor, int domainType, String domainXml, long[] gpfnRanges,
                             byte[] cpuidPolicy, byte[] msrPolicy, TscInfo tsc, long[] hvmParams, byte[] hvmContext,
                             byte[] emulatorXenstore, byte[] emulatorContext) {
}
