// Tests of EHR packets on small hand-built MIMIC tables in an in-memory store: order, joins, caps, skipped
// admissions, absent tables, MIMIC-III columns and the errors for unknown subjects and admissions.
#include "medcode/mimic/packet.h"

#include <gtest/gtest.h>

#include "medcode/util/error.h"

namespace medcode::mimic {
namespace {

class PacketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table("mimic4_patients",
          "subject_id INTEGER, gender TEXT, anchor_age INTEGER, anchor_year INTEGER, anchor_year_group TEXT, "
          "dod TEXT");
    table("mimic4_admissions",
          "subject_id INTEGER, hadm_id INTEGER, admittime TEXT, dischtime TEXT, admission_type TEXT");
    table("mimic4_diagnoses_icd",
          "subject_id INTEGER, hadm_id INTEGER, seq_num INTEGER, icd_code TEXT, icd_version INTEGER");
    table("mimic4_d_icd_diagnoses", "icd_code TEXT, icd_version INTEGER, long_title TEXT");
    table("mimic4_labevents",
          "labevent_id INTEGER, subject_id INTEGER, hadm_id INTEGER, itemid INTEGER, charttime TEXT, value "
          "TEXT, "
          "valuenum REAL, valueuom TEXT");
    table("mimic4_d_labitems", "itemid INTEGER, label TEXT, fluid TEXT, category TEXT");
    table("mimic4_discharge", "note_id TEXT, subject_id INTEGER, hadm_id INTEGER, charttime TEXT, text TEXT");
    m_db.exec(
        "INSERT INTO mimic4_patients VALUES (7, 'F', 52, 2180, '2014 - 2016', NULL);"
        "INSERT INTO mimic4_patients VALUES (8, 'M', 60, 2150, '2008 - 2010', NULL);"
        // Out of order on purpose; 300 has no discharge note.
        "INSERT INTO mimic4_admissions VALUES (7, 200, '2180-06-01 10:00:00', '2180-06-05 10:00:00', "
        "'URGENT');"
        "INSERT INTO mimic4_admissions VALUES (7, 100, '2180-05-01 08:00:00', '2180-05-03 12:00:00', 'EW "
        "EMER.');"
        "INSERT INTO mimic4_admissions VALUES (7, 300, '2180-07-01 09:00:00', '2180-07-02 09:00:00', "
        "'ELECTIVE');"
        "INSERT INTO mimic4_admissions VALUES (8, 400, '2150-01-01 09:00:00', '2150-01-02 09:00:00', "
        "'ELECTIVE');"
        "INSERT INTO mimic4_diagnoses_icd VALUES (7, 100, 2, '496', 9), (7, 100, 1, 'K766', 10);"
        "INSERT INTO mimic4_d_icd_diagnoses VALUES ('K766', 10, 'Portal hypertension'), ('496', 9, 'COPD');"
        "INSERT INTO mimic4_labevents VALUES (5, 7, 100, 51, '2180-05-02 06:00:00', '7.1', 7.1, 'g/dL'),"
        " (4, 7, 100, 50, '2180-05-02 06:00:00', '140', 140, 'mEq/L'),"
        " (3, 7, 100, 51, '2180-05-01 09:00:00', '6.9', 6.9, 'g/dL'),"
        " (9, 7, 200, 50, '2180-06-02 06:00:00', '138', 138, 'mEq/L');"
        "INSERT INTO mimic4_d_labitems VALUES (50, 'Sodium', 'Blood', 'Chemistry'), (51, 'Albumin', 'Blood', "
        "'Chemistry');"
        "INSERT INTO mimic4_discharge VALUES ('7-DS-2', 7, 200, '2180-06-05 00:00:00', 'Second stay.'),"
        " ('7-DS-1', 7, 100, '2180-05-03 00:00:00', 'First stay.');");
  }

  // Creates a table and registers it as imported, as `import mimic-iv` does.
  void table(const std::string& name, const std::string& columns) {
    m_db.exec("CREATE TABLE " + name + " (" + columns + ")");
    auto insert = m_db.prepare(
        "INSERT INTO mimic_tables (name, source, source_table, path, bytes, rows, seconds, imported_at) "
        "VALUES (?, ?, ?, '/dev/null', 0, 0, 0, '2026-01-01T00:00:00Z')");
    insert.bind_all(name, name.rfind("mimic3_", 0) == 0 ? "mimic-iii" : "mimic-iv", name);
    insert.run();
  }

  PacketOptions subject(std::int64_t subject_id) {
    PacketOptions options;
    options.subject_id = subject_id;
    return options;
  }

  store::Database m_db = store::Database::open_in_memory();
};

TEST_F(PacketTest, OnePacketPerAdmissionWithADischargeNoteInAdmittimeOrder) {
  auto packets = build_packets(m_db, subject(7));
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(packets[0].hadm_id, 100);
  EXPECT_EQ(packets[1].hadm_id, 200);
  const auto& packet = packets[0].json;
  EXPECT_EQ(packet["format"], k_packet_format);
  EXPECT_EQ(packet["source"], "mimic-iv");
  EXPECT_EQ(packet["demographics"]["gender"], "F");
  EXPECT_EQ(packet["demographics"]["anchor_age"], 52);
  EXPECT_TRUE(packet["demographics"]["dod"].is_null());
  EXPECT_EQ(packet["admission"]["admission_type"], "EW EMER.");
  EXPECT_FALSE(packet["admission"].contains("subject_id"));
  EXPECT_EQ(packet["discharge_note"]["text"], "First stay.");
  EXPECT_EQ(packet["discharge_note"]["note_ids"], nlohmann::json({"7-DS-1"}));
}

TEST_F(PacketTest, DiagnosesFollowSeqNumWithTheirLongTitles) {
  auto packets = build_packets(m_db, subject(7));
  const auto& diagnoses = packets[0].json["diagnoses"];
  ASSERT_EQ(diagnoses.size(), 2u);
  EXPECT_EQ(diagnoses[0]["icd_code"], "K766");
  EXPECT_EQ(diagnoses[0]["icd_version"], 10);
  EXPECT_EQ(diagnoses[0]["long_title"], "Portal hypertension");
  EXPECT_EQ(diagnoses[1]["seq_num"], 2);
}

TEST_F(PacketTest, LabsAreOrderedByCharttimeItemAndIdWithTheirLabels) {
  auto packets = build_packets(m_db, subject(7));
  const auto& labs = packets[0].json["labs"];
  ASSERT_EQ(labs.size(), 3u);
  EXPECT_EQ(labs[0]["labevent_id"], 3);
  EXPECT_EQ(labs[1]["labevent_id"], 4);
  EXPECT_EQ(labs[1]["label"], "Sodium");
  EXPECT_EQ(labs[2]["labevent_id"], 5);
  EXPECT_DOUBLE_EQ(labs[2]["valuenum"].get<double>(), 7.1);
  EXPECT_EQ(labs[2]["category"], "Chemistry");
}

TEST_F(PacketTest, RowCapKeepsTheFirstRowsAndRecordsHowManyWereLeftOut) {
  PacketOptions options = subject(7);
  options.row_cap_labs = 2;
  auto packets = build_packets(m_db, options);
  const auto& packet = packets[0].json;
  ASSERT_EQ(packet["labs"].size(), 2u);
  EXPECT_EQ(packet["labs"][1]["labevent_id"], 4);
  EXPECT_EQ(packet["row_counts"]["labs"]["total"], 3);
  EXPECT_EQ(packet["row_counts"]["labs"]["included"], 2);
  EXPECT_EQ(packet["row_counts"]["labs"]["left_out"], 1);
  EXPECT_EQ(packet["row_counts"]["labs"]["cap"], 2);
}

TEST_F(PacketTest, SectionsOfTablesNotImportedAreEmptyAndNamedInSources) {
  auto packets = build_packets(m_db, subject(7));
  const auto& packet = packets[0].json;
  EXPECT_TRUE(packet["emar"].empty());
  EXPECT_TRUE(packet["radiology"].empty());
  EXPECT_EQ(packet["sources"]["emar"]["absent"], nlohmann::json({"mimic4_emar"}));
  EXPECT_EQ(packet["sources"]["labs"]["tables"], nlohmann::json({"mimic4_labevents", "mimic4_d_labitems"}));
  EXPECT_EQ(packet["sources"]["procedures"]["absent"],
            nlohmann::json({"mimic4_procedures_icd", "mimic4_d_icd_procedures"}));
}

TEST_F(PacketTest, AdmissionsWithoutDischargeNoteAreKeptOnlyWhenAskedFor) {
  PacketOptions options = subject(7);
  options.include_admissions_without_discharge = true;
  auto packets = build_packets(m_db, options);
  ASSERT_EQ(packets.size(), 3u);
  EXPECT_EQ(packets[2].hadm_id, 300);
  EXPECT_TRUE(packets[2].json["discharge_note"].is_null());
  options.max_admissions = 1;
  EXPECT_EQ(build_packets(m_db, options).size(), 1u);
}

TEST_F(PacketTest, OneAdmissionByHadmId) {
  PacketOptions options = subject(7);
  options.hadm_id = 200;
  auto packets = build_packets(m_db, options);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(packets[0].json["labs"][0]["labevent_id"], 9);
}

TEST_F(PacketTest, UnknownSubjectAndForeignAdmissionAreBadInputNamingThem) {
  try {
    build_packets(m_db, subject(99));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("subject 99"), std::string::npos);
  }
  PacketOptions options = subject(7);
  options.hadm_id = 400;  // subject 8's
  try {
    build_packets(m_db, options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("400"), std::string::npos);
  }
  options.hadm_id = 300;  // no discharge note
  EXPECT_THROW(build_packets(m_db, options), Error);
}

TEST_F(PacketTest, NegativeCapIsAUsageError) {
  PacketOptions options = subject(7);
  options.row_cap_emar = -1;
  try {
    build_packets(m_db, options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

TEST_F(PacketTest, SamePacketsTwiceAreIdentical) {
  EXPECT_EQ(nlohmann::json(build_packets(m_db, subject(7))[1].json).dump(),
            nlohmann::json(build_packets(m_db, subject(7))[1].json).dump());
}

TEST_F(PacketTest, InputsListTheRowKeysOfEachSection) {
  PacketOptions options = subject(7);
  options.row_cap_labs = 2;
  nlohmann::json inputs = packet_inputs(build_packets(m_db, options)[0].json);
  EXPECT_EQ(inputs["labs"]["keys"], nlohmann::json({3, 4}));
  EXPECT_EQ(inputs["labs"]["rows_total"], 3);
  EXPECT_EQ(inputs["discharge_note"]["keys"], nlohmann::json({"7-DS-1"}));
  EXPECT_EQ(inputs["demographics"]["keys"], nlohmann::json({7}));
}

TEST(PacketMimicIii, ReadsIcd9ColumnsAndDischargeSummariesFromNoteevents) {
  store::Database db = store::Database::open_in_memory();
  auto table = [&](const std::string& name, const std::string& columns) {
    db.exec("CREATE TABLE " + name + " (" + columns + ")");
    db.exec(
        "INSERT INTO mimic_tables (name, source, source_table, path, bytes, rows, seconds, imported_at) "
        "VALUES ('" +
        name + "', 'mimic-iii', '" + name + "', '/dev/null', 0, 0, 0, 'x')");
  };
  table("mimic3_patients",
        "row_id INTEGER, subject_id INTEGER, gender TEXT, dob TEXT, dod TEXT, expire_flag INTEGER");
  table("mimic3_admissions",
        "row_id INTEGER, subject_id INTEGER, hadm_id INTEGER, admittime TEXT, diagnosis TEXT");
  table("mimic3_diagnoses_icd",
        "row_id INTEGER, subject_id INTEGER, hadm_id INTEGER, seq_num INTEGER, icd9_code TEXT");
  table("mimic3_noteevents",
        "row_id INTEGER, subject_id INTEGER, hadm_id INTEGER, chartdate TEXT, charttime TEXT, category TEXT, "
        "description TEXT, cgid INTEGER, iserror TEXT, text TEXT");
  db.exec(
      "INSERT INTO mimic3_patients VALUES (1, 10006, 'F', '2094-03-05 00:00:00', NULL, 0);"
      "INSERT INTO mimic3_admissions VALUES (1, 10006, 142345, '2164-10-23 21:09:00', 'SEPSIS');"
      "INSERT INTO mimic3_diagnoses_icd VALUES (1, 10006, 142345, 1, '99591');"
      "INSERT INTO mimic3_noteevents VALUES (5, 10006, 142345, '2164-11-01', NULL, 'Discharge summary', "
      "'Report', "
      "NULL, NULL, 'Sepsis, resolved.'),"
      " (6, 10006, 142345, '2164-11-01', NULL, 'Discharge summary', 'Report', NULL, '1', 'Written in "
      "error.'),"
      " (7, 10006, 142345, '2164-10-24', '2164-10-24 08:00:00', 'Radiology', 'CHEST (PA & LAT)', NULL, NULL, "
      "'No acute process.');");
  PacketOptions options;
  options.source = Source::mimic_iii;
  options.subject_id = 10006;
  auto packets = build_packets(db, options);
  ASSERT_EQ(packets.size(), 1u);
  const auto& packet = packets[0].json;
  EXPECT_EQ(packet["source"], "mimic-iii");
  EXPECT_EQ(packet["demographics"],
            nlohmann::json({{"gender", "F"}, {"dob", "2094-03-05 00:00:00"}, {"dod", nullptr}}));
  EXPECT_EQ(packet["diagnoses"][0]["icd_code"], "99591");
  EXPECT_EQ(packet["diagnoses"][0]["icd_version"], 9);
  EXPECT_TRUE(packet["diagnoses"][0]["long_title"].is_null());  // no dictionary imported
  EXPECT_EQ(packet["discharge_note"]["text"], "Sepsis, resolved.");
  ASSERT_EQ(packet["radiology"].size(), 1u);
  EXPECT_EQ(packet["radiology"][0]["description"], "CHEST (PA & LAT)");
  EXPECT_TRUE(packet["emar"].empty());
  EXPECT_EQ(packet["sources"]["emar"]["note"], "MIMIC-III has no eMAR table");
}

}  // namespace
}  // namespace medcode::mimic
