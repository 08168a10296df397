/*
 * Unit tests of the instruction decoder (src/cpu/decode.c): known encodings
 * map to their mnemonics and operands, every RVC form expands to exactly
 * its 32-bit equivalent (unprivileged spec ch. 16, tables 16.5-16.7),
 * reserved encodings decode to the illegal-instruction handler, and writes
 * to x0 go to the sink register x[32].
 *
 * The encodings below were produced with Debian's riscv64-linux-gnu-as
 * (binutils 2.40; Zicond by hand as it lacks it) from the assembly in the
 * comments; RVC pairs are the compressed form and the assembler's 32-bit
 * encoding of the same instruction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/exec.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

struct enc32 {
	uint32_t word;
	const char *name;
};

/* One encoding per pattern of the decoder's table. */
static const struct enc32 enc32[] = {
	{ 0x12345537, "lui" },	      /* lui a0, 0x12345 */
	{ 0xfffff317, "auipc" },      /* auipc t1, 0xfffff */
	{ 0x001000ef, "jal" },	      /* jal ra, .+2048 */
	{ 0xffc582e7, "jalr" },	      /* jalr t0, -4(a1) */
	{ 0x80b50063, "beq" },	      /* beq a0, a1, .-4096 */
	{ 0x7e941fe3, "bne" },	      /* bne s0, s1, .+4094 */
	{ 0x00d64463, "blt" },	      /* blt a2, a3, .+8 */
	{ 0xfef75ce3, "bge" },	      /* bge a4, a5, .-8 */
	{ 0x01de6863, "bltu" },	      /* bltu t3, t4, .+16 */
	{ 0xffff78e3, "bgeu" },	      /* bgeu t5, t6, .-16 */
	{ 0x80010503, "lb" },	      /* lb a0, -2048(sp) */
	{ 0x7ff19583, "lh" },	      /* lh a1, 2047(gp) */
	{ 0x00422603, "lw" },	      /* lw a2, 4(tp) */
	{ 0xff843683, "ld" },	      /* ld a3, -8(s0) */
	{ 0x0014c703, "lbu" },	      /* lbu a4, 1(s1) */
	{ 0x00255783, "lhu" },	      /* lhu a5, 2(a0) */
	{ 0x0045e803, "lwu" },	      /* lwu a6, 4(a1) */
	{ 0xfea10fa3, "sb" },	      /* sb a0, -1(sp) */
	{ 0x00b11123, "sh" },	      /* sh a1, 2(sp) */
	{ 0x80c12023, "sw" },	      /* sw a2, -2048(sp) */
	{ 0x7ed13c23, "sd" },	      /* sd a3, 2040(sp) */
	{ 0x80058513, "addi" },	      /* addi a0, a1, -2048 */
	{ 0x0055a513, "slti" },	      /* slti a0, a1, 5 */
	{ 0xfff5b513, "sltiu" },      /* sltiu a0, a1, -1 */
	{ 0xfff5c513, "xori" },	      /* xori a0, a1, -1 */
	{ 0x7ff5e513, "ori" },	      /* ori a0, a1, 0x7ff */
	{ 0x0ff5f513, "andi" },	      /* andi a0, a1, 0xff */
	{ 0x03f59513, "slli" },	      /* slli a0, a1, 63 */
	{ 0x0205d513, "srli" },	      /* srli a0, a1, 32 */
	{ 0x4015d513, "srai" },	      /* srai a0, a1, 1 */
	{ 0x00c58533, "add" },	      /* add a0, a1, a2 */
	{ 0x40c58533, "sub" },	      /* sub a0, a1, a2 */
	{ 0x00c59533, "sll" },	      /* sll a0, a1, a2 */
	{ 0x00c5a533, "slt" },	      /* slt a0, a1, a2 */
	{ 0x00c5b533, "sltu" },	      /* sltu a0, a1, a2 */
	{ 0x00c5c533, "xor" },	      /* xor a0, a1, a2 */
	{ 0x00c5d533, "srl" },	      /* srl a0, a1, a2 */
	{ 0x40c5d533, "sra" },	      /* sra a0, a1, a2 */
	{ 0x00c5e533, "or" },	      /* or a0, a1, a2 */
	{ 0x00c5f533, "and" },	      /* and a0, a1, a2 */
	{ 0xfff5851b, "addiw" },      /* addiw a0, a1, -1 */
	{ 0x01f5951b, "slliw" },      /* slliw a0, a1, 31 */
	{ 0x01f5d51b, "srliw" },      /* srliw a0, a1, 31 */
	{ 0x41f5d51b, "sraiw" },      /* sraiw a0, a1, 31 */
	{ 0x00c5853b, "addw" },	      /* addw a0, a1, a2 */
	{ 0x40c5853b, "subw" },	      /* subw a0, a1, a2 */
	{ 0x00c5953b, "sllw" },	      /* sllw a0, a1, a2 */
	{ 0x00c5d53b, "srlw" },	      /* srlw a0, a1, a2 */
	{ 0x40c5d53b, "sraw" },	      /* sraw a0, a1, a2 */
	{ 0x0330000f, "fence" },      /* fence rw, rw */
	{ 0x0000100f, "fence.i" },    /* fence.i */
	{ 0x00000073, "ecall" },      /* ecall */
	{ 0x00100073, "ebreak" },     /* ebreak */
	{ 0x30200073, "mret" },	      /* mret */
	{ 0x10200073, "sret" },	      /* sret */
	{ 0x10500073, "wfi" },	      /* wfi */
	{ 0x12b50073, "sfence.vma" }, /* sfence.vma a0, a1 */
	{ 0x30059573, "csrrw" },      /* csrrw a0, mstatus, a1 */
	{ 0x1005a573, "csrrs" },      /* csrrs a0, sstatus, a1 */
	{ 0x1805b573, "csrrc" },      /* csrrc a0, satp, a1 */
	{ 0x340fd573, "csrrwi" },     /* csrrwi a0, mscratch, 31 */
	{ 0x3040e573, "csrrsi" },     /* csrrsi a0, mie, 1 */
	{ 0x34417573, "csrrci" },     /* csrrci a0, mip, 2 */
	{ 0x02c58533, "mul" },	      /* mul a0, a1, a2 */
	{ 0x02c59533, "mulh" },	      /* mulh a0, a1, a2 */
	{ 0x02c5a533, "mulhsu" },     /* mulhsu a0, a1, a2 */
	{ 0x02c5b533, "mulhu" },      /* mulhu a0, a1, a2 */
	{ 0x02c5c533, "div" },	      /* div a0, a1, a2 */
	{ 0x02c5d533, "divu" },	      /* divu a0, a1, a2 */
	{ 0x02c5e533, "rem" },	      /* rem a0, a1, a2 */
	{ 0x02c5f533, "remu" },	      /* remu a0, a1, a2 */
	{ 0x02c5853b, "mulw" },	      /* mulw a0, a1, a2 */
	{ 0x02c5c53b, "divw" },	      /* divw a0, a1, a2 */
	{ 0x02c5d53b, "divuw" },      /* divuw a0, a1, a2 */
	{ 0x02c5e53b, "remw" },	      /* remw a0, a1, a2 */
	{ 0x02c5f53b, "remuw" },      /* remuw a0, a1, a2 */
	{ 0x1405a52f, "lr.w" },	      /* lr.w.aq a0, (a1) */
	{ 0x1ac5a52f, "sc.w" },	      /* sc.w.rl a0, a2, (a1) */
	{ 0x08c5a52f, "amoswap.w" },  /* amoswap.w a0, a2, (a1) */
	{ 0x00c5a52f, "amoadd.w" },   /* amoadd.w a0, a2, (a1) */
	{ 0x20c5a52f, "amoxor.w" },   /* amoxor.w a0, a2, (a1) */
	{ 0x60c5a52f, "amoand.w" },   /* amoand.w a0, a2, (a1) */
	{ 0x40c5a52f, "amoor.w" },    /* amoor.w a0, a2, (a1) */
	{ 0x80c5a52f, "amomin.w" },   /* amomin.w a0, a2, (a1) */
	{ 0xa0c5a52f, "amomax.w" },   /* amomax.w a0, a2, (a1) */
	{ 0xc0c5a52f, "amominu.w" },  /* amominu.w a0, a2, (a1) */
	{ 0xe6c5a52f, "amomaxu.w" },  /* amomaxu.w.aqrl a0, a2, (a1) */
	{ 0x1005b52f, "lr.d" },	      /* lr.d a0, (a1) */
	{ 0x18c5b52f, "sc.d" },	      /* sc.d a0, a2, (a1) */
	{ 0x08c5b52f, "amoswap.d" },  /* amoswap.d a0, a2, (a1) */
	{ 0x00c5b52f, "amoadd.d" },   /* amoadd.d a0, a2, (a1) */
	{ 0x20c5b52f, "amoxor.d" },   /* amoxor.d a0, a2, (a1) */
	{ 0x60c5b52f, "amoand.d" },   /* amoand.d a0, a2, (a1) */
	{ 0x40c5b52f, "amoor.d" },    /* amoor.d a0, a2, (a1) */
	{ 0x80c5b52f, "amomin.d" },   /* amomin.d a0, a2, (a1) */
	{ 0xa0c5b52f, "amomax.d" },   /* amomax.d a0, a2, (a1) */
	{ 0xc0c5b52f, "amominu.d" },  /* amominu.d a0, a2, (a1) */
	{ 0xe0c5b52f, "amomaxu.d" },  /* amomaxu.d a0, a2, (a1) */
	{ 0xffc5a507, "flw" },	      /* flw fa0, -4(a1) */
	{ 0x0085b507, "fld" },	      /* fld fa0, 8(a1) */
	{ 0xfea5ae27, "fsw" },	      /* fsw fa0, -4(a1) */
	{ 0x00a5b427, "fsd" },	      /* fsd fa0, 8(a1) */
	{ 0x68c58543, "fmadd.s" },    /* fmadd.s fa0, fa1, fa2, fa3, rne */
	{ 0x68c59547, "fmsub.s" },    /* fmsub.s fa0, fa1, fa2, fa3, rtz */
	{ 0x68c5a54b, "fnmsub.s" },   /* fnmsub.s fa0, fa1, fa2, fa3, rdn */
	{ 0x68c5b54f, "fnmadd.s" },   /* fnmadd.s fa0, fa1, fa2, fa3, rup */
	{ 0x6ac5c543, "fmadd.d" },    /* fmadd.d fa0, fa1, fa2, fa3, rmm */
	{ 0x6ac5f547, "fmsub.d" },    /* fmsub.d fa0, fa1, fa2, fa3 */
	{ 0x6ac5f54b, "fnmsub.d" },   /* fnmsub.d fa0, fa1, fa2, fa3 */
	{ 0x1a20f04f, "fnmadd.d" },   /* fnmadd.d ft0, ft1, ft2, ft3 */
	{ 0x00c5f553, "fadd.s" },     /* fadd.s fa0, fa1, fa2 */
	{ 0x08c5f553, "fsub.s" },     /* fsub.s fa0, fa1, fa2 */
	{ 0x10c5f553, "fmul.s" },     /* fmul.s fa0, fa1, fa2 */
	{ 0x18c5f553, "fdiv.s" },     /* fdiv.s fa0, fa1, fa2 */
	{ 0x5805f553, "fsqrt.s" },    /* fsqrt.s fa0, fa1 */
	{ 0x20c58553, "fsgnj.s" },    /* fsgnj.s fa0, fa1, fa2 */
	{ 0x20c59553, "fsgnjn.s" },   /* fsgnjn.s fa0, fa1, fa2 */
	{ 0x20c5a553, "fsgnjx.s" },   /* fsgnjx.s fa0, fa1, fa2 */
	{ 0x28c58553, "fmin.s" },     /* fmin.s fa0, fa1, fa2 */
	{ 0x28c59553, "fmax.s" },     /* fmax.s fa0, fa1, fa2 */
	{ 0xc005f553, "fcvt.w.s" },   /* fcvt.w.s a0, fa1 */
	{ 0xc015f553, "fcvt.wu.s" },  /* fcvt.wu.s a0, fa1 */
	{ 0xc025f553, "fcvt.l.s" },   /* fcvt.l.s a0, fa1 */
	{ 0xc035f553, "fcvt.lu.s" },  /* fcvt.lu.s a0, fa1 */
	{ 0xe0058553, "fmv.x.w" },    /* fmv.x.w a0, fa1 */
	{ 0xe0059553, "fclass.s" },   /* fclass.s a0, fa1 */
	{ 0xa0c5a553, "feq.s" },      /* feq.s a0, fa1, fa2 */
	{ 0xa0c59553, "flt.s" },      /* flt.s a0, fa1, fa2 */
	{ 0xa0c58553, "fle.s" },      /* fle.s a0, fa1, fa2 */
	{ 0xd005f553, "fcvt.s.w" },   /* fcvt.s.w fa0, a1 */
	{ 0xd015f553, "fcvt.s.wu" },  /* fcvt.s.wu fa0, a1 */
	{ 0xd025f553, "fcvt.s.l" },   /* fcvt.s.l fa0, a1 */
	{ 0xd035f553, "fcvt.s.lu" },  /* fcvt.s.lu fa0, a1 */
	{ 0xf0058553, "fmv.w.x" },    /* fmv.w.x fa0, a1 */
	{ 0x02c5f553, "fadd.d" },     /* fadd.d fa0, fa1, fa2 */
	{ 0x0ac5f553, "fsub.d" },     /* fsub.d fa0, fa1, fa2 */
	{ 0x12c5f553, "fmul.d" },     /* fmul.d fa0, fa1, fa2 */
	{ 0x1ac5f553, "fdiv.d" },     /* fdiv.d fa0, fa1, fa2 */
	{ 0x5a05f553, "fsqrt.d" },    /* fsqrt.d fa0, fa1 */
	{ 0x22c58553, "fsgnj.d" },    /* fsgnj.d fa0, fa1, fa2 */
	{ 0x22c59553, "fsgnjn.d" },   /* fsgnjn.d fa0, fa1, fa2 */
	{ 0x22c5a553, "fsgnjx.d" },   /* fsgnjx.d fa0, fa1, fa2 */
	{ 0x2ac58553, "fmin.d" },     /* fmin.d fa0, fa1, fa2 */
	{ 0x2ac59553, "fmax.d" },     /* fmax.d fa0, fa1, fa2 */
	{ 0x4015f553, "fcvt.s.d" },   /* fcvt.s.d fa0, fa1 */
	{ 0x42058553, "fcvt.d.s" },   /* fcvt.d.s fa0, fa1 */
	{ 0xa2c5a553, "feq.d" },      /* feq.d a0, fa1, fa2 */
	{ 0xa2c59553, "flt.d" },      /* flt.d a0, fa1, fa2 */
	{ 0xa2c58553, "fle.d" },      /* fle.d a0, fa1, fa2 */
	{ 0xe2059553, "fclass.d" },   /* fclass.d a0, fa1 */
	{ 0xc205f553, "fcvt.w.d" },   /* fcvt.w.d a0, fa1 */
	{ 0xc215f553, "fcvt.wu.d" },  /* fcvt.wu.d a0, fa1 */
	{ 0xc225f553, "fcvt.l.d" },   /* fcvt.l.d a0, fa1 */
	{ 0xc235f553, "fcvt.lu.d" },  /* fcvt.lu.d a0, fa1 */
	{ 0xd2058553, "fcvt.d.w" },   /* fcvt.d.w fa0, a1 */
	{ 0xd2158553, "fcvt.d.wu" },  /* fcvt.d.wu fa0, a1 */
	{ 0xd225f553, "fcvt.d.l" },   /* fcvt.d.l fa0, a1 */
	{ 0xd235f553, "fcvt.d.lu" },  /* fcvt.d.lu fa0, a1 */
	{ 0xe2058553, "fmv.x.d" },    /* fmv.x.d a0, fa1 */
	{ 0xf2058553, "fmv.d.x" },    /* fmv.d.x fa0, a1 */
	{ 0x20c5a533, "sh1add" },     /* sh1add a0, a1, a2 */
	{ 0x20c5c533, "sh2add" },     /* sh2add a0, a1, a2 */
	{ 0x20c5e533, "sh3add" },     /* sh3add a0, a1, a2 */
	{ 0x08c5853b, "add.uw" },     /* add.uw a0, a1, a2 */
	{ 0x20c5a53b, "sh1add.uw" },  /* sh1add.uw a0, a1, a2 */
	{ 0x20c5c53b, "sh2add.uw" },  /* sh2add.uw a0, a1, a2 */
	{ 0x20c5e53b, "sh3add.uw" },  /* sh3add.uw a0, a1, a2 */
	{ 0x0bf5951b, "slli.uw" },    /* slli.uw a0, a1, 63 */
	{ 0x40c5f533, "andn" },	      /* andn a0, a1, a2 */
	{ 0x40c5e533, "orn" },	      /* orn a0, a1, a2 */
	{ 0x40c5c533, "xnor" },	      /* xnor a0, a1, a2 */
	{ 0x60059513, "clz" },	      /* clz a0, a1 */
	{ 0x60159513, "ctz" },	      /* ctz a0, a1 */
	{ 0x60259513, "cpop" },	      /* cpop a0, a1 */
	{ 0x6005951b, "clzw" },	      /* clzw a0, a1 */
	{ 0x6015951b, "ctzw" },	      /* ctzw a0, a1 */
	{ 0x6025951b, "cpopw" },      /* cpopw a0, a1 */
	{ 0x0ac5e533, "max" },	      /* max a0, a1, a2 */
	{ 0x0ac5f533, "maxu" },	      /* maxu a0, a1, a2 */
	{ 0x0ac5c533, "min" },	      /* min a0, a1, a2 */
	{ 0x0ac5d533, "minu" },	      /* minu a0, a1, a2 */
	{ 0x60459513, "sext.b" },     /* sext.b a0, a1 */
	{ 0x60559513, "sext.h" },     /* sext.h a0, a1 */
	{ 0x0805c53b, "zext.h" },     /* zext.h a0, a1 */
	{ 0x60c59533, "rol" },	      /* rol a0, a1, a2 */
	{ 0x60c5d533, "ror" },	      /* ror a0, a1, a2 */
	{ 0x60c5953b, "rolw" },	      /* rolw a0, a1, a2 */
	{ 0x60c5d53b, "rorw" },	      /* rorw a0, a1, a2 */
	{ 0x63f5d513, "rori" },	      /* rori a0, a1, 63 */
	{ 0x61f5d51b, "roriw" },      /* roriw a0, a1, 31 */
	{ 0x2875d513, "orc.b" },      /* orc.b a0, a1 */
	{ 0x6b85d513, "rev8" },	      /* rev8 a0, a1 */
	{ 0x48c59533, "bclr" },	      /* bclr a0, a1, a2 */
	{ 0x4bf59513, "bclri" },      /* bclri a0, a1, 63 */
	{ 0x48c5d533, "bext" },	      /* bext a0, a1, a2 */
	{ 0x4805d513, "bexti" },      /* bexti a0, a1, 0 */
	{ 0x68c59533, "binv" },	      /* binv a0, a1, a2 */
	{ 0x6a059513, "binvi" },      /* binvi a0, a1, 32 */
	{ 0x28c59533, "bset" },	      /* bset a0, a1, a2 */
	{ 0x28559513, "bseti" },      /* bseti a0, a1, 5 */
	{ 0x0ec5d533, "czero.eqz" },  /* czero.eqz a0, a1, a2 */
	{ 0x0ec5f533, "czero.nez" },  /* czero.nez a0, a1, a2 */
};

struct enc16 {
	uint16_t c;	  /* compressed form */
	uint32_t w;	  /* its 32-bit equivalent */
	const char *name; /* mnemonic of the expansion */
};

/* Every RV64C form, immediates at their extremes and in between. */
static const struct enc16 enc16[] = {
	{ 0x0048, 0x00410513, "addi" },	  /* c.addi4spn a0, sp, 4 */
	{ 0x1fe4, 0x3fc10493, "addi" },	  /* c.addi4spn s1, sp, 1020 */
	{ 0x3de8, 0x0f85b507, "fld" },	  /* c.fld fa0, 248(a1) */
	{ 0x2000, 0x00043407, "fld" },	  /* c.fld fs0, 0(s0) */
	{ 0x5de8, 0x07c5a503, "lw" },	  /* c.lw a0, 124(a1) */
	{ 0x435c, 0x00472783, "lw" },	  /* c.lw a5, 4(a4) */
	{ 0x7de8, 0x0f85b503, "ld" },	  /* c.ld a0, 248(a1) */
	{ 0x6780, 0x0087b403, "ld" },	  /* c.ld s0, 8(a5) */
	{ 0xbde8, 0x0ea5bc27, "fsd" },	  /* c.fsd fa0, 248(a1) */
	{ 0xdde8, 0x06a5ae23, "sw" },	  /* c.sw a0, 124(a1) */
	{ 0xe690, 0x00c6b423, "sd" },	  /* c.sd a2, 8(a3) */
	{ 0x0001, 0x00000013, "addi" },	  /* c.nop */
	{ 0x1501, 0xfe050513, "addi" },	  /* c.addi a0, -32 */
	{ 0x02fd, 0x01f28293, "addi" },	  /* c.addi t0, 31 */
	{ 0x357d, 0xfff5051b, "addiw" },  /* c.addiw a0, -1 */
	{ 0x2481, 0x0004849b, "addiw" },  /* c.addiw s1, 0 */
	{ 0x5501, 0xfe000513, "addi" },	  /* c.li a0, -32 */
	{ 0x4ffd, 0x01f00f93, "addi" },	  /* c.li t6, 31 */
	{ 0x7101, 0xe0010113, "addi" },	  /* c.addi16sp sp, -512 */
	{ 0x617d, 0x1f010113, "addi" },	  /* c.addi16sp sp, 496 */
	{ 0x6141, 0x01010113, "addi" },	  /* c.addi16sp sp, 16 */
	{ 0x6505, 0x00001537, "lui" },	  /* c.lui a0, 0x1 */
	{ 0x7d81, 0xfffe0db7, "lui" },	  /* c.lui s11, 0xfffe0 */
	{ 0x62fd, 0x0001f2b7, "lui" },	  /* c.lui t0, 0x1f */
	{ 0x917d, 0x03f55513, "srli" },	  /* c.srli a0, 63 */
	{ 0x8085, 0x0014d493, "srli" },	  /* c.srli s1, 1 */
	{ 0x9501, 0x42055513, "srai" },	  /* c.srai a0, 32 */
	{ 0x8795, 0x4057d793, "srai" },	  /* c.srai a5, 5 */
	{ 0x9901, 0xfe057513, "andi" },	  /* c.andi a0, -32 */
	{ 0x887d, 0x01f47413, "andi" },	  /* c.andi s0, 31 */
	{ 0x8d0d, 0x40b50533, "sub" },	  /* c.sub a0, a1 */
	{ 0x8c25, 0x00944433, "xor" },	  /* c.xor s0, s1 */
	{ 0x8f5d, 0x00f76733, "or" },	  /* c.or a4, a5 */
	{ 0x8e75, 0x00d67633, "and" },	  /* c.and a2, a3 */
	{ 0x9d0d, 0x40b5053b, "subw" },	  /* c.subw a0, a1 */
	{ 0x9d2d, 0x00b5053b, "addw" },	  /* c.addw a0, a1 */
	{ 0xb001, 0x801ff06f, "jal" },	  /* c.j .-2048 */
	{ 0xaffd, 0x7fe0006f, "jal" },	  /* c.j .+2046 */
	{ 0xa46d, 0x2aa0006f, "jal" },	  /* c.j .+0x2aa */
	{ 0xbb91, 0xd55ff06f, "jal" },	  /* c.j .-0x2ac */
	{ 0xd101, 0xf00500e3, "beq" },	  /* c.beqz a0, .-256 */
	{ 0xc7cd, 0x0a078563, "beq" },	  /* c.beqz a5, .+0xaa */
	{ 0xecfd, 0x0e049f63, "bne" },	  /* c.bnez s1, .+254 */
	{ 0xf831, 0xf4041ae3, "bne" },	  /* c.bnez s0, .-0xac */
	{ 0x157e, 0x03f51513, "slli" },	  /* c.slli a0, 63 */
	{ 0x0f86, 0x001f9f93, "slli" },	  /* c.slli t6, 1 */
	{ 0x357e, 0x1f813507, "fld" },	  /* c.fldsp fa0, 504(sp) */
	{ 0x20a2, 0x00813087, "fld" },	  /* c.fldsp ft1, 8(sp) */
	{ 0x557e, 0x0fc12503, "lw" },	  /* c.lwsp a0, 252(sp) */
	{ 0x4312, 0x00412303, "lw" },	  /* c.lwsp t1, 4(sp) */
	{ 0x70fe, 0x1f813083, "ld" },	  /* c.ldsp ra, 504(sp) */
	{ 0x6942, 0x01013903, "ld" },	  /* c.ldsp s2, 16(sp) */
	{ 0x8082, 0x00008067, "jalr" },	  /* c.jr ra */
	{ 0x8f82, 0x000f8067, "jalr" },	  /* c.jr t6 */
	{ 0x852e, 0x00b00533, "add" },	  /* c.mv a0, a1 */
	{ 0x9002, 0x00100073, "ebreak" }, /* c.ebreak */
	{ 0x9282, 0x000280e7, "jalr" },	  /* c.jalr t0 */
	{ 0x952e, 0x00b50533, "add" },	  /* c.add a0, a1 */
	{ 0xbfaa, 0x1ea13c27, "fsd" },	  /* c.fsdsp fa0, 504(sp) */
	{ 0xa426, 0x00913427, "fsd" },	  /* c.fsdsp fs1, 8(sp) */
	{ 0xdfaa, 0x0ea12e23, "sw" },	  /* c.swsp a0, 252(sp) */
	{ 0xc21e, 0x00712223, "sw" },	  /* c.swsp t2, 4(sp) */
	{ 0xff86, 0x1e113c23, "sd" },	  /* c.sdsp ra, 504(sp) */
	{ 0xe84e, 0x01313823, "sd" },	  /* c.sdsp s3, 16(sp) */
};

static uint32_t word_of(const char *name)
{
	for (size_t i = 0; i < N_ELEMS(enc32); i++)
		if (!strcmp(enc32[i].name, name))
			return enc32[i].word;
	fail_msg("no encoding for %s", name);
	return 0;
}

static struct insn dec(uint32_t raw, bool *ends)
{
	struct insn in;
	memset(&in, 0xcc, sizeof(in));
	bool e = decode_insn(raw, &in);
	if (ends)
		*ends = e;
	return in;
}

static void test_names_32(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(enc32); i++) {
		const struct enc32 *e = &enc32[i];
		if (strcmp(decode_name(e->word), e->name))
			fail_msg("%08x: decoded as %s, expected %s", e->word,
				 decode_name(e->word), e->name);
		struct insn in = dec(e->word, NULL);
		assert_true(in.fn != op_illegal);
		assert_int_equal(in.len, 4);
		assert_int_equal(in.raw, e->word);
	}
}

static void test_operands_32(void **state)
{
	(void)state;
	struct insn in;

	in = dec(word_of("addi"), NULL); /* addi a0, a1, -2048 */
	assert_int_equal(in.rd, 10);
	assert_int_equal(in.rs1, 11);
	assert_int_equal(in.imm, -2048);
	in = dec(word_of("ori"), NULL); /* ori a0, a1, 0x7ff */
	assert_int_equal(in.imm, 2047);
	in = dec(word_of("sw"), NULL); /* sw a2, -2048(sp) */
	assert_int_equal(in.rs1, 2);
	assert_int_equal(in.rs2, 12);
	assert_int_equal(in.imm, -2048);
	in = dec(word_of("sd"), NULL); /* sd a3, 2040(sp) */
	assert_int_equal(in.imm, 2040);
	in = dec(word_of("beq"), NULL); /* beq a0, a1, .-4096 */
	assert_int_equal(in.rs1, 10);
	assert_int_equal(in.rs2, 11);
	assert_int_equal(in.imm, -4096);
	in = dec(word_of("bne"), NULL); /* .+4094 */
	assert_int_equal(in.imm, 4094);
	in = dec(word_of("jal"), NULL); /* jal ra, .+2048 */
	assert_int_equal(in.rd, 1);
	assert_int_equal(in.imm, 2048);
	in = dec(word_of("jalr"), NULL); /* jalr t0, -4(a1) */
	assert_int_equal(in.rd, 5);
	assert_int_equal(in.rs1, 11);
	assert_int_equal(in.imm, -4);
	in = dec(word_of("lui"), NULL); /* lui a0, 0x12345 */
	assert_int_equal(in.imm, 0x12345000);
	in = dec(word_of("auipc"), NULL); /* auipc t1, 0xfffff */
	assert_int_equal(in.imm, -4096);
	in = dec(word_of("slli"), NULL); /* slli a0, a1, 63 */
	assert_int_equal(in.imm, 63);
	in = dec(word_of("srai"), NULL); /* srai a0, a1, 1 */
	assert_int_equal(in.imm, 1);
	in = dec(word_of("sraiw"), NULL); /* sraiw a0, a1, 31 */
	assert_int_equal(in.imm, 31);
	in = dec(word_of("rori"), NULL); /* rori a0, a1, 63 */
	assert_int_equal(in.imm, 63);
	in = dec(word_of("binvi"), NULL); /* binvi a0, a1, 32 */
	assert_int_equal(in.imm, 32);
	in = dec(word_of("csrrw"), NULL); /* csrrw a0, mstatus, a1 */
	assert_int_equal(in.imm, 0x300);
	assert_int_equal(in.rs1, 11);
	in = dec(word_of("csrrwi"), NULL); /* csrrwi a0, mscratch, 31 */
	assert_int_equal(in.imm, 0x340);
	assert_int_equal(in.rs1, 31);	    /* the uimm field */
	in = dec(word_of("fmadd.s"), NULL); /* fa0, fa1, fa2, fa3, rne */
	assert_int_equal(in.rd, 10);
	assert_int_equal(in.rs1, 11);
	assert_int_equal(in.rs2, 12);
	assert_int_equal(in.rs3, 13);
	assert_int_equal(in.rm, 0);
	in = dec(word_of("fmsub.s"), NULL); /* rtz */
	assert_int_equal(in.rm, 1);
	in = dec(word_of("fmadd.d"), NULL); /* rmm */
	assert_int_equal(in.rm, 4);
	in = dec(word_of("fmsub.d"), NULL); /* default: dyn */
	assert_int_equal(in.rm, 7);
	in = dec(word_of("lr.w"), NULL); /* lr.w.aq */
	assert_int_equal(in.rm, 2);
	in = dec(word_of("sc.w"), NULL); /* sc.w.rl a0, a2, (a1) */
	assert_int_equal(in.rm, 1);
	assert_int_equal(in.rs1, 11);
	assert_int_equal(in.rs2, 12);
	in = dec(word_of("amomaxu.w"), NULL); /* .aqrl */
	assert_int_equal(in.rm, 3);
	in = dec(word_of("flw"), NULL); /* flw fa0, -4(a1) */
	assert_int_equal(in.rd, 10);
	assert_int_equal(in.imm, -4);
	in = dec(word_of("fsd"), NULL); /* fsd fa0, 8(a1) */
	assert_int_equal(in.rs2, 10);
	assert_int_equal(in.imm, 8);
}

static void test_rvc_forms(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(enc16); i++) {
		const struct enc16 *e = &enc16[i];
		bool ends_c, ends_w;
		if (strcmp(decode_name(e->c), e->name))
			fail_msg("%04x: decoded as %s, expected %s", e->c,
				 decode_name(e->c), e->name);
		struct insn c = dec(e->c, &ends_c);
		struct insn w = dec(e->w, &ends_w);
		if (c.fn != w.fn || c.rd != w.rd || c.rs1 != w.rs1 ||
		    c.rs2 != w.rs2 || c.rs3 != w.rs3 || c.imm != w.imm ||
		    c.rm != w.rm || ends_c != ends_w)
			fail_msg("%04x (%s) does not expand to %08x: rd %u/%u "
				 "rs1 %u/%u rs2 %u/%u imm %d/%d",
				 e->c, e->name, e->w, c.rd, w.rd, c.rs1, w.rs1,
				 c.rs2, w.rs2, c.imm, w.imm);
		assert_int_equal(c.len, 2);
		assert_int_equal(c.raw, e->c);
		/* the fetch hands over 32 bits: the upper half is ignored */
		struct insn c2 = dec(0xdead0000u | e->c, NULL);
		assert_true(c2.fn == c.fn);
		assert_int_equal(c2.imm, c.imm);
		assert_int_equal(c2.raw, e->c);
		assert_int_equal(c2.len, 2);
	}
}

/* Reserved RV64C encodings (tables 16.5-16.7, "RES" and "NSE") and 32-bit
 * words that are no instruction of RV64GC_Zba_Zbb_Zbs_Zicond. */
static const uint32_t illegal[] = {
	0x0000,			/* all zeros (c.addi4spn, nzuimm = 0) */
	0x0008,			/* c.addi4spn a0, sp, 0 */
	0x4002,			/* c.lwsp x0 */
	0x6002,			/* c.ldsp x0 */
	0x8002,			/* c.jr x0 */
	0x2001,			/* c.addiw x0 */
	0x6101,			/* c.addi16sp sp, 0 */
	0x6501,			/* c.lui a0, 0 */
	0x6001,			/* c.lui x0, 0 */
	0x8000,			/* quadrant 0, funct3 100 */
	0x9c41,			/* c.subw/c.addw space, funct2 10 */
	0x9c61,			/* ... funct2 11 */
	0xffffffff, 0x0000000b, /* custom-0 */
	0x0000001f,		/* 48-bit encoding space */
	0x0000007f,		/* >= 80-bit encoding space */
	0x000000f3,		/* ecall with rd = x1 */
	0x001000f3,		/* ebreak with rd = x1 */
	0x00200073,		/* uret */
	0x120000f3,		/* sfence.vma with rd = x1 */
	0x0200101b,		/* slliw with shamt[5] */
	0x4200501b,		/* sraiw with shamt[5] */
	0x6200501b,		/* roriw with shamt[5] */
	0xe0002053,		/* fmv.x.w with funct3 2 */
	0x1010202f,		/* lr.w with rs2 = x1 */
	0x04000053,		/* fadd.h (no Zfh) */
	0x06000053,		/* fadd.q (no Q) */
	0x58100053,		/* fsqrt.s with rs2 = 1 */
	0xd0400053,		/* fcvt.s.? with rs2 = 4 */
	0x00004073,		/* SYSTEM funct3 100 */
	0x0000502f,		/* AMO funct3 101 */
	0x00007003,		/* load funct3 111 */
	0x00004023,		/* store funct3 100 */
	0x00002063,		/* branch funct3 010 */
	0x00001067,		/* jalr funct3 001 */
	0x60301013,		/* Zbb unary with rs2 = 3 */
};

/* Neighbours of reserved encodings that are valid (some are hints). */
static const uint32_t legal[] = {
	0x2000,	    /* c.fld fs0, 0(s0): a zero offset is fine */
	0x50fe,	    /* c.lwsp ra, 252(sp) */
	0x2081,	    /* c.addiw ra, 0 (sext.w) */
	0x6085,	    /* c.lui ra, 1 */
	0x4001,	    /* c.li x0, 0 (hint) */
	0x8006,	    /* c.mv x0, ra (hint) */
	0x0001,	    /* c.nop */
	0x02000013, /* addi x0, x0, 32 (hint) */
	0x9002,	    /* c.ebreak */
};

static void test_illegal(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(illegal); i++) {
		uint32_t w = illegal[i];
		bool ends;
		struct insn in = dec(w, &ends);
		if (in.fn != op_illegal || strcmp(decode_name(w), "illegal"))
			fail_msg("%08x should be illegal, decodes as %s", w,
				 decode_name(w));
		assert_true(ends); /* an illegal instruction ends the block */
		assert_int_equal(in.len, (w & 3) == 3 ? 4 : 2);
		assert_int_equal(in.raw, (w & 3) == 3 ? w : (w & 0xffff));
	}
	for (size_t i = 0; i < N_ELEMS(legal); i++)
		if (dec(legal[i], NULL).fn == op_illegal)
			fail_msg("%08x should decode", legal[i]);
}

static void test_rd_x0_is_sink(void **state)
{
	(void)state;
	static const uint32_t to_sink[] = {
		0x00c58033, /* add x0, a1, a2 */
		0x00000013, /* addi x0, x0, 0 (nop) */
		0x0001,	    /* c.nop */
		0x4001,	    /* c.li x0, 0 (hint) */
		0x8006,	    /* c.mv x0, ra (hint) */
		0x00001037, /* lui x0, 1 */
		0x0000006f, /* jal x0, 0 */
		0xc0058053, /* fcvt.w.s x0, fa1 */
		0xa0b5a053, /* feq.s x0, fa1, fa1 */
		0x30002073, /* csrr x0, mstatus (csrrs) */
		0x0005b003, /* ld x0, 0(a1) */
		0x00b5302f, /* amoadd.d x0, a1, (a0) */
	};
	for (size_t i = 0; i < N_ELEMS(to_sink); i++) {
		struct insn in = dec(to_sink[i], NULL);
		assert_true(in.fn != op_illegal);
		if (in.rd != 32)
			fail_msg("%08x (%s): rd %u, expected the sink 32",
				 to_sink[i], decode_name(to_sink[i]), in.rd);
	}
	/* f0 is a real register */
	static const uint32_t to_f0[] = {
		0x00c58053, /* fadd.s f0, fa1, fa2, rne */
		0x0005a007, /* flw f0, 0(a1) */
		0xf0058053, /* fmv.w.x f0, a1 */
		0xd0058053, /* fcvt.s.w f0, a1, rne */
	};
	for (size_t i = 0; i < N_ELEMS(to_f0); i++)
		assert_int_equal(dec(to_f0[i], NULL).rd, 0);
	assert_int_equal(dec(0x2000, NULL).rd, 8); /* c.fld fs0, 0(s0) */
	/* a real destination stays */
	assert_int_equal(dec(0x00c58533, NULL).rd, 10); /* add a0, a1, a2 */
}

static void test_block_ends(void **state)
{
	(void)state;
	static const char *const ends[] = {
		"jal",	 "jalr",  "ecall",   "ebreak",	   "mret",
		"sret",	 "wfi",	  "fence.i", "sfence.vma", "csrrw",
		"csrrs", "csrrc", "csrrwi",  "csrrsi",	   "csrrci",
	};
	/* conditional branches fall through inside a block (taken, they
	 * leave it themselves) */
	static const char *const flows[] = {
		"add",	  "lui",      "ld",	   "sd",   "fence",
		"fadd.s", "amoadd.w", "lr.d",	   "sc.d", "mul",
		"div",	  "sh1add",   "czero.eqz", "beq",  "bne",
		"blt",	  "bge",      "bltu",	   "bgeu",
	};
	bool e;
	for (size_t i = 0; i < N_ELEMS(ends); i++) {
		dec(word_of(ends[i]), &e);
		if (!e)
			fail_msg("%s should end its block", ends[i]);
	}
	for (size_t i = 0; i < N_ELEMS(flows); i++) {
		dec(word_of(flows[i]), &e);
		if (e)
			fail_msg("%s should not end its block", flows[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_32),
		cmocka_unit_test(test_operands_32),
		cmocka_unit_test(test_rvc_forms),
		cmocka_unit_test(test_illegal),
		cmocka_unit_test(test_rd_x0_is_sink),
		cmocka_unit_test(test_block_ends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
