/* The band's GATT database (§2.2), with the handles of the one real dump the document quotes ([CREOTIV]).
 *
 * No source published the characteristic property bits (§2.2, §19: UNCERTAIN). The ones below are chosen
 * from how clients use each characteristic: read where clients read, notify wherever the dump shows a CCCD
 * (which covers §16.1's list), write-without-response where the protocol sends Write Commands (auth, §3;
 * 2A06 by SIG definition), write where clients send Write Requests. Where nobody uses a characteristic the
 * choice is the least surprising one and says so. */
#include <glib.h>
#include <stddef.h>

#include "band.h"

#define SIG(x) "0000" x "-0000-1000-8000-00805f9b34fb"   /* §2.1 */
#define HUAMI(x) "0000" x "-0000-3512-2118-0009af100700" /* §2.1 */

#define R SIM_PROP_READ
#define W SIM_PROP_WRITE
#define WNR SIM_PROP_WRITE_WITHOUT_RESP
#define N SIM_PROP_NOTIFY

#define CCCD(h) static const struct sim_gatt_desc cccd_##h[] = { { SIG("2902"), h + 2 } }
#define CHR(id, uuid, h, props) { id, uuid, h, h + 1, props, NULL, 0 }
#define CHR_CCCD(id, uuid, h, props) { id, uuid, h, h + 1, props, cccd_##h, 1 }
#define SERVICE(uuid, h, end, chrs) { uuid, h, end, chrs, G_N_ELEMENTS(chrs) }

/* A CCCD follows its characteristic's value; named after the declaration's handle. */
CCCD(0x0009);
CCCD(0x0018);
CCCD(0x0021);
CCCD(0x0028);
CCCD(0x002e);
CCCD(0x0031);
CCCD(0x0034);
CCCD(0x0037);
CCCD(0x003a);
CCCD(0x003d);
CCCD(0x0040);
CCCD(0x0043);
CCCD(0x0046);
CCCD(0x0049);
CCCD(0x004c);
CCCD(0x004f);
CCCD(0x0053);
CCCD(0x0064);

/* 2A46 is followed by a user description (0x2901) in the dump, not by a CCCD. */
static const struct sim_gatt_desc desc_new_alert[] = { { SIG("2901"), 0x0020 } };

/* 2A04's value is unknown (§3); readable as SIG defines it. */
static const struct sim_gatt_chr gap_chrs[] = {
	CHR(SIM_CHR_DEVICE_NAME, SIG("2a00"), 0x0002, R),
	CHR(SIM_CHR_APPEARANCE, SIG("2a01"), 0x0004, R),
	CHR(SIM_CHR_PPCP, SIG("2a04"), 0x0006, R),
};

/* SIG makes Service Changed indicate-only; the property set here has no indicate bit and nothing uses it. */
static const struct sim_gatt_chr gatt_chrs[] = {
	CHR_CCCD(SIM_CHR_SERVICE_CHANGED, SIG("2a05"), 0x0009, N),
};

static const struct sim_gatt_chr dis_chrs[] = {
	CHR(SIM_CHR_SERIAL, SIG("2a25"), 0x000d, R),
	CHR(SIM_CHR_HW_REV, SIG("2a27"), 0x000f, R),
	CHR(SIM_CHR_SW_REV, SIG("2a28"), 0x0011, R),
	CHR(SIM_CHR_SYSTEM_ID, SIG("2a23"), 0x0013, R),
	CHR(SIM_CHR_PNP_ID, SIG("2a50"), 0x0015, R),
};

/* Firmware control answers the update protocol by notification (§15); the data goes as Write Commands. */
static const struct sim_gatt_chr fw_chrs[] = {
	CHR_CCCD(SIM_CHR_FW_CTRL, HUAMI("1531"), 0x0018, W | N),
	CHR(SIM_CHR_FW_DATA, HUAMI("1532"), 0x001b, WNR),
};

/* GB writes 2A46 with whatever the platform picks (§12.2), so both write types. 2A44 is unused (§12.4): SIG
 * makes it writable; its CCCD says it can notify. */
static const struct sim_gatt_chr ans_chrs[] = {
	{ SIM_CHR_NEW_ALERT, SIG("2a46"), 0x001e, 0x001f, W | WNR, desc_new_alert, 1 },
	CHR_CCCD(SIM_CHR_ANS_CP, SIG("2a44"), 0x0021, W | N),
};

static const struct sim_gatt_chr ias_chrs[] = {
	CHR(SIM_CHR_ALERT_LEVEL, SIG("2a06"), 0x0025, WNR),
};

/* 2A39 is written with response by inFullBand (§3). */
static const struct sim_gatt_chr hr_chrs[] = {
	CHR_CCCD(SIM_CHR_HR_MEAS, SIG("2a37"), 0x0028, N),
	CHR(SIM_CHR_HR_CTRL, SIG("2a39"), 0x002b, W),
};

/* 0003 is write + notify only: clients never read it (§14). 0020 is "chunked transfer" on later devices,
 * written and notified there; its MB2 use is unknown (§2.2). The second 2A04 is unknown: readable like the
 * first. 0008 has a CCCD in the dump though no response is documented. */
static const struct sim_gatt_chr fee0_chrs[] = {
	CHR_CCCD(SIM_CHR_TIME, SIG("2a2b"), 0x002e, R | W | N),
	CHR_CCCD(SIM_CHR_CHUNKED, HUAMI("0020"), 0x0031, W | N),
	CHR_CCCD(SIM_CHR_RAW_CTRL, HUAMI("0001"), 0x0034, W | N),
	CHR_CCCD(SIM_CHR_RAW_DATA, HUAMI("0002"), 0x0037, N),
	CHR_CCCD(SIM_CHR_CONFIG, HUAMI("0003"), 0x003a, W | N),
	CHR_CCCD(SIM_CHR_PPCP2, SIG("2a04"), 0x003d, R | N),
	CHR_CCCD(SIM_CHR_FETCH, HUAMI("0004"), 0x0040, W | N),
	CHR_CCCD(SIM_CHR_ACTIVITY, HUAMI("0005"), 0x0043, N),
	CHR_CCCD(SIM_CHR_BATTERY, HUAMI("0006"), 0x0046, R | N),
	CHR_CCCD(SIM_CHR_STEPS, HUAMI("0007"), 0x0049, R | N),
	CHR_CCCD(SIM_CHR_USER, HUAMI("0008"), 0x004c, W | N),
	CHR_CCCD(SIM_CHR_EVENT, HUAMI("0010"), 0x004f, N),
};

/* Auth is written without response by Mi Fit and the bluepy clients, with response by others (§3). FEDx and
 * FEC1 are unknown and unused (§2.2): read-only with an empty value, FEC1 also notifying (it has a CCCD). */
static const struct sim_gatt_chr fee1_chrs[] = {
	CHR_CCCD(SIM_CHR_AUTH, HUAMI("0009"), 0x0053, WNR | W | N),
	CHR(SIM_CHR_FEDD, SIG("fedd"), 0x0056, R),
	CHR(SIM_CHR_FEDE, SIG("fede"), 0x0058, R),
	CHR(SIM_CHR_FEDF, SIG("fedf"), 0x005a, R),
	CHR(SIM_CHR_FED0, SIG("fed0"), 0x005c, R),
	CHR(SIM_CHR_FED1, SIG("fed1"), 0x005e, R),
	CHR(SIM_CHR_FED2, SIG("fed2"), 0x0060, R),
	CHR(SIM_CHR_FED3, SIG("fed3"), 0x0062, R),
	CHR_CCCD(SIM_CHR_FEC1, HUAMI("fec1"), 0x0064, R | N),
};

/* A service ends on the handle before the next one; FEE1 ends on FEC1's CCCD. */
static const struct sim_gatt_service services[] = {
	SERVICE(SIG("1800"), 0x0001, 0x0007, gap_chrs),
	SERVICE(SIG("1801"), 0x0008, 0x000b, gatt_chrs),
	SERVICE(SIG("180a"), 0x000c, 0x0016, dis_chrs),
	SERVICE(HUAMI("1530"), 0x0017, 0x001c, fw_chrs),
	SERVICE(SIG("1811"), 0x001d, 0x0023, ans_chrs),
	SERVICE(SIG("1802"), 0x0024, 0x0026, ias_chrs),
	SERVICE(SIG("180d"), 0x0027, 0x002c, hr_chrs),
	SERVICE(SIG("fee0"), 0x002d, 0x0051, fee0_chrs),
	SERVICE(SIG("fee1"), 0x0052, 0x0066, fee1_chrs),
};

const struct sim_gatt_service *sim_gatt_services(size_t *ret_n)
{
	*ret_n = G_N_ELEMENTS(services);
	return services;
}

const struct sim_gatt_service *sim_gatt_chr_service(enum sim_chr id)
{
	for (size_t i = 0; i < G_N_ELEMENTS(services); i++)
		for (size_t j = 0; j < services[i].n_chrs; j++)
			if (services[i].chrs[j].id == id)
				return &services[i];
	return NULL;
}

const struct sim_gatt_chr *sim_gatt_chr(enum sim_chr id)
{
	const struct sim_gatt_service *s = sim_gatt_chr_service(id);

	if (!s)
		return NULL;
	for (size_t j = 0; j < s->n_chrs; j++)
		if (s->chrs[j].id == id)
			return &s->chrs[j];
	return NULL;
}

int sim_gatt_chr_by_uuid(const char *uuid)
{
	for (size_t i = 0; i < G_N_ELEMENTS(services); i++)
		for (size_t j = 0; j < services[i].n_chrs; j++)
			if (g_ascii_strcasecmp(services[i].chrs[j].uuid, uuid) == 0)
				return (int)services[i].chrs[j].id;
	return -1;
}

bool sim_gatt_takes_request(enum sim_chr id)
{
	const struct sim_gatt_chr *def = sim_gatt_chr(id);

	return !def || (def->props & SIM_PROP_WRITE);
}

GVariant *sim_gatt_flags(uint8_t props)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
	if (props & SIM_PROP_READ)
		g_variant_builder_add(&b, "s", "read");
	if (props & SIM_PROP_WRITE_WITHOUT_RESP)
		g_variant_builder_add(&b, "s", "write-without-response");
	if (props & SIM_PROP_WRITE)
		g_variant_builder_add(&b, "s", "write");
	if (props & SIM_PROP_NOTIFY)
		g_variant_builder_add(&b, "s", "notify");
	return g_variant_builder_end(&b);
}
