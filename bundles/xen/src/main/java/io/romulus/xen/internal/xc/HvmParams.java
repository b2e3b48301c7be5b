package io.romulus.xen.internal.xc;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The HVM parameters a Xen migration stream carries in its {@code HVM_PARAMS} record: the ones libxc's HVM save
 * sends ({@code tools/libs/guest/xg_sr_save_x86_hvm.c}, {@code write_hvm_params}), in its order. Each index is
 * checked against the installed {@code xen/hvm/params.h} by {@code XenAbiGoldenTest}.
 */
public final class HvmParams {

    /** The parameters, in the order libxc's save reads them. */
    static final int[] SAVED = {
        XenAbi.HVM_PARAM_STORE_PFN,
        XenAbi.HVM_PARAM_IOREQ_PFN,
        XenAbi.HVM_PARAM_BUFIOREQ_PFN,
        XenAbi.HVM_PARAM_PAGING_RING_PFN,
        XenAbi.HVM_PARAM_MONITOR_RING_PFN,
        XenAbi.HVM_PARAM_SHARING_RING_PFN,
        XenAbi.HVM_PARAM_VM86_TSS_SIZED,
        XenAbi.HVM_PARAM_CONSOLE_PFN,
        XenAbi.HVM_PARAM_ACPI_IOPORTS_LOCATION,
        XenAbi.HVM_PARAM_VIRIDIAN,
        XenAbi.HVM_PARAM_IDENT_PT,
        XenAbi.HVM_PARAM_VM_GENERATION_ID_ADDR,
        XenAbi.HVM_PARAM_IOREQ_SERVER_PFN,
        XenAbi.HVM_PARAM_NR_IOREQ_SERVER_PAGES,
        XenAbi.HVM_PARAM_X87_FIP_WIDTH,
        XenAbi.HVM_PARAM_MCA_CAP,
    };

    private HvmParams() {
    }

    /** The parameters that libxc's save would send: index to value, in its order, without those that are 0. */
    public static Map<Integer, Long> saved(XenControl xc, int domid) throws XenCallException {
        Map<Integer, Long> params = new LinkedHashMap<>();
        for (int index : SAVED) {
            long value = xc.hvmParam(domid, index);
            if (value != 0) {
                params.put(index, value);
            }
        }
        return params;
    }
}
