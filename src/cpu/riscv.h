/*
 * RISC-V architectural constants: CSR numbers, status bits, trap causes.
 * References: "The RISC-V Instruction Set Manual, Volume II: Privileged
 * Architecture" 1.12 (sections cited per block).
 */
#ifndef SV_CPU_RISCV_H
#define SV_CPU_RISCV_H

/* CSR addresses (priv. spec ch. 2, tables 2.2-2.6). */
enum csr_addr {
	CSR_FFLAGS = 0x001,
	CSR_FRM = 0x002,
	CSR_FCSR = 0x003,
	CSR_CYCLE = 0xc00,
	CSR_TIME = 0xc01,
	CSR_INSTRET = 0xc02,
	CSR_HPMCOUNTER3 = 0xc03,
	CSR_HPMCOUNTER31 = 0xc1f,

	CSR_SSTATUS = 0x100,
	CSR_SIE = 0x104,
	CSR_STVEC = 0x105,
	CSR_SCOUNTEREN = 0x106,
	CSR_SENVCFG = 0x10a,
	CSR_SSCRATCH = 0x140,
	CSR_SEPC = 0x141,
	CSR_SCAUSE = 0x142,
	CSR_STVAL = 0x143,
	CSR_SIP = 0x144,
	CSR_STIMECMP = 0x14d,
	CSR_SATP = 0x180,

	CSR_MVENDORID = 0xf11,
	CSR_MARCHID = 0xf12,
	CSR_MIMPID = 0xf13,
	CSR_MHARTID = 0xf14,
	CSR_MCONFIGPTR = 0xf15,
	CSR_MSTATUS = 0x300,
	CSR_MISA = 0x301,
	CSR_MEDELEG = 0x302,
	CSR_MIDELEG = 0x303,
	CSR_MIE = 0x304,
	CSR_MTVEC = 0x305,
	CSR_MCOUNTEREN = 0x306,
	CSR_MENVCFG = 0x30a,
	CSR_MCOUNTINHIBIT = 0x320,
	CSR_MHPMEVENT3 = 0x323,
	CSR_MHPMEVENT31 = 0x33f,
	CSR_MSCRATCH = 0x340,
	CSR_MEPC = 0x341,
	CSR_MCAUSE = 0x342,
	CSR_MTVAL = 0x343,
	CSR_MIP = 0x344,
	CSR_PMPCFG0 = 0x3a0,
	CSR_PMPCFG15 = 0x3af,
	CSR_PMPADDR0 = 0x3b0,
	CSR_PMPADDR63 = 0x3ef,
	CSR_TSELECT = 0x7a0,
	CSR_TDATA1 = 0x7a1,
	CSR_TDATA2 = 0x7a2,
	CSR_TDATA3 = 0x7a3,
	CSR_TINFO = 0x7a4,
	CSR_MCYCLE = 0xb00,
	CSR_MINSTRET = 0xb02,
	CSR_MHPMCOUNTER3 = 0xb03,
	CSR_MHPMCOUNTER31 = 0xb1f,
};

/* mstatus (section 3.1.6), RV64 layout. */
#define MSTATUS_SIE	  (1ULL << 1)
#define MSTATUS_MIE	  (1ULL << 3)
#define MSTATUS_SPIE	  (1ULL << 5)
#define MSTATUS_UBE	  (1ULL << 6)
#define MSTATUS_MPIE	  (1ULL << 7)
#define MSTATUS_SPP	  (1ULL << 8)
#define MSTATUS_VS	  (3ULL << 9)
#define MSTATUS_MPP_SHIFT 11
#define MSTATUS_MPP	  (3ULL << 11)
#define MSTATUS_FS_SHIFT  13
#define MSTATUS_FS	  (3ULL << 13)
#define MSTATUS_XS	  (3ULL << 15)
#define MSTATUS_MPRV	  (1ULL << 17)
#define MSTATUS_SUM	  (1ULL << 18)
#define MSTATUS_MXR	  (1ULL << 19)
#define MSTATUS_TVM	  (1ULL << 20)
#define MSTATUS_TW	  (1ULL << 21)
#define MSTATUS_TSR	  (1ULL << 22)
#define MSTATUS_UXL	  (3ULL << 32)
#define MSTATUS_SXL	  (3ULL << 34)
#define MSTATUS_SBE	  (1ULL << 36)
#define MSTATUS_MBE	  (1ULL << 37)
#define MSTATUS_SD	  (1ULL << 63)

#define FS_OFF	   0
#define FS_INITIAL 1
#define FS_CLEAN   2
#define FS_DIRTY   3

/* Interrupt bits of mip/mie (section 3.1.9). */
#define MIP_SSIP   (1ULL << 1)
#define MIP_MSIP   (1ULL << 3)
#define MIP_STIP   (1ULL << 5)
#define MIP_MTIP   (1ULL << 7)
#define MIP_SEIP   (1ULL << 9)
#define MIP_MEIP   (1ULL << 11)
#define MIP_S_MASK (MIP_SSIP | MIP_STIP | MIP_SEIP)
#define MIP_ALL	   (MIP_S_MASK | MIP_MSIP | MIP_MTIP | MIP_MEIP)

/* Exception causes (section 3.1.15, table 3.6). */
enum exc_cause {
	EXC_INSN_MISALIGNED = 0,
	EXC_INSN_ACCESS = 1,
	EXC_ILLEGAL_INSN = 2,
	EXC_BREAKPOINT = 3,
	EXC_LOAD_MISALIGNED = 4,
	EXC_LOAD_ACCESS = 5,
	EXC_STORE_MISALIGNED = 6,
	EXC_STORE_ACCESS = 7,
	EXC_ECALL_U = 8,
	EXC_ECALL_S = 9,
	EXC_ECALL_M = 11,
	EXC_INSN_PAGE_FAULT = 12,
	EXC_LOAD_PAGE_FAULT = 13,
	EXC_STORE_PAGE_FAULT = 15,
};
#define CAUSE_INTERRUPT (1ULL << 63)

/* Exceptions M-mode may delegate (medeleg is WARL; ECALL_M stays in M). */
#define MEDELEG_MASK 0xb3ffULL

/* menvcfg (section 3.1.18). */
#define MENVCFG_FIOM (1ULL << 0)
#define MENVCFG_STCE (1ULL << 63)

/* satp (section 4.1.11). */
#define SATP_MODE_SHIFT 60
#define SATP_ASID_SHIFT 44
#define SATP_ASID_MASK	0xffffULL
#define SATP_PPN_MASK	((1ULL << 44) - 1)
#define SATP_MODE_BARE	0
#define SATP_MODE_SV39	8
#define SATP_MODE_SV48	9
#define SATP_MODE_SV57	10

/* Page table entries (section 4.3.1). */
#define PTE_V	      (1ULL << 0)
#define PTE_R	      (1ULL << 1)
#define PTE_W	      (1ULL << 2)
#define PTE_X	      (1ULL << 3)
#define PTE_U	      (1ULL << 4)
#define PTE_G	      (1ULL << 5)
#define PTE_A	      (1ULL << 6)
#define PTE_D	      (1ULL << 7)
#define PTE_PPN_SHIFT 10
#define PTE_PPN_MASK  ((1ULL << 44) - 1)
/* Bits 63:54: N, PBMT and reserved; must be zero without Svnapot/Svpbmt. */
#define PTE_HIGH_MASK (0x3ffULL << 54)

/* PMP configuration byte (section 3.7.1). */
#define PMP_R	    0x01
#define PMP_W	    0x02
#define PMP_X	    0x04
#define PMP_A	    0x18
#define PMP_A_OFF   0x00
#define PMP_A_TOR   0x08
#define PMP_A_NA4   0x10
#define PMP_A_NAPOT 0x18
#define PMP_L	    0x80
#define PMP_COUNT   16

/* fcsr (unprivileged spec, section 11.2). */
#define FFLAG_NX 0x01
#define FFLAG_UF 0x02
#define FFLAG_OF 0x04
#define FFLAG_DZ 0x08
#define FFLAG_NV 0x10

#endif
