// A small ICD-10-CM release (and an older year, and a HCPCS release) written through ReleaseWriter, for the
// tests of the read side: catalog, validator, search and export.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "medcode/codes/release_writer.h"
#include "medcode/store/database.h"

namespace medcode::codes::sample {

inline CodeRow code_row(std::string code, std::optional<std::string> parent, std::string chapter,
                        std::string section, std::string description, bool billable) {
  CodeRow row;
  row.code = std::move(code);
  row.parent = std::move(parent);
  row.chapter = std::move(chapter);
  row.section = std::move(section);
  row.description = std::move(description);
  row.billable = billable;
  row.placeholder = row.code.find('X', 4) != std::string::npos;
  return row;
}

// Category S06 declares 7th characters A, D, S; a note keeps D and S from codes whose 6th character is 7.
inline void add_injuries(ReleaseWriter& writer) {
  writer.add_group({"chapter", "19", std::nullopt,
                    "Injury, poisoning and certain other consequences of external causes (S00-T88)", "S00",
                    "T88"});
  writer.add_group({"section", "S00-S09", std::string("19"), "Injuries to the head (S00-S09)", "S00", "S09"});
  writer.add_note("chapter:19", "excludes1", 1, "birth trauma (P10-P15)");
  writer.add_note("section:S00-S09", "includes", 1, "injuries of ear");
  writer.add_code(code_row("S06", std::nullopt, "19", "S00-S09", "Intracranial injury", false));
  writer.add_note("S06", "excludes1", 1, "head injury NOS (S09.90)");
  writer.add_note("S06", "seventh_character_note", 2,
                  "The appropriate 7th character is to be added to each code");
  for (auto [character, meaning] :
       {std::pair{"A", "initial encounter"}, {"D", "subsequent encounter"}, {"S", "sequela"}}) {
    writer.add_seventh_character("S06", character, meaning);
  }
  writer.add_code(code_row("S06.0", "S06", "19", "S00-S09", "Concussion", false));
  writer.add_note("S06.0", "inclusion_term", 1, "Commotio cerebri");
  writer.add_note("S06.0", "excludes1", 2, "concussion with other intracranial injuries");
  writer.add_code(code_row("S06.0X", "S06.0", "19", "S00-S09", "Concussion", false));
  const std::string brief = "Concussion with loss of consciousness of 30 minutes or less";
  writer.add_code(code_row("S06.0X1", "S06.0X", "19", "S00-S09", brief, false));
  writer.add_note("S06.0X1", "inclusion_term", 1, "Concussion with brief loss of consciousness");
  for (auto [character, meaning] :
       {std::pair{"A", "initial encounter"}, {"D", "subsequent encounter"}, {"S", "sequela"}}) {
    CodeRow row = code_row(std::string("S06.0X1") + character, "S06.0X1", "19", "S00-S09",
                           brief + ", " + meaning, true);
    row.seventh_char = character;
    row.seventh_meaning = meaning;
    writer.add_code(row);
  }
  const std::string death =
      "Concussion with loss of consciousness of any duration with death due to brain injury";
  writer.add_code(code_row("S06.0X7", "S06.0X", "19", "S00-S09", death, false));
  CodeRow death_initial =
      code_row("S06.0X7A", "S06.0X7", "19", "S00-S09", death + ", initial encounter", true);
  death_initial.seventh_char = "A";
  death_initial.seventh_meaning = "initial encounter";
  writer.add_code(death_initial);
}

inline void add_diabetes(ReleaseWriter& writer, bool with_hyperglycemia, const std::string& suffix) {
  writer.add_group({"chapter", "4", std::nullopt, "Endocrine, nutritional and metabolic diseases (E00-E89)",
                    "E00", "E89"});
  writer.add_group({"section", "E08-E13", std::string("4"), "Diabetes mellitus (E08-E13)", "E08", "E13"});
  writer.add_code(code_row("E10", std::nullopt, "4", "E08-E13", "Type 1 diabetes mellitus", false));
  writer.add_code(
      code_row("E10.9", "E10", "4", "E08-E13", "Type 1 diabetes mellitus without complications", true));
  writer.add_code(code_row("E11", std::nullopt, "4", "E08-E13", "Type 2 diabetes mellitus", false));
  writer.add_note("E11", "includes", 1, "diabetes NOS");
  writer.add_note("E11", "excludes1", 2, "type 1 diabetes mellitus (E10.-)");
  writer.add_code(code_row("E11.6", "E11", "4", "E08-E13",
                           "Type 2 diabetes mellitus with other specified complications", false));
  writer.add_code(
      code_row("E11.64", "E11.6", "4", "E08-E13", "Type 2 diabetes mellitus with hypoglycemia", false));
  writer.add_code(code_row("E11.641", "E11.64", "4", "E08-E13",
                           "Type 2 diabetes mellitus with hypoglycemia with coma", true));
  writer.add_code(code_row("E11.649", "E11.64", "4", "E08-E13",
                           "Type 2 diabetes mellitus with hypoglycemia without coma", true));
  if (with_hyperglycemia) {
    writer.add_code(
        code_row("E11.65", "E11.6", "4", "E08-E13", "Type 2 diabetes mellitus with hyperglycemia", true));
  }
  CodeRow unspecified = code_row("E11.9", "E11", "4", "E08-E13",
                                 "Type 2 diabetes mellitus without complications" + suffix, true);
  unspecified.short_description = "Type 2 diabetes mellitus without complications";
  writer.add_code(unspecified);

  IndexTermRow diabetes;
  diabetes.title = "Diabetes, diabetic (mellitus) (sugar)";
  diabetes.path = diabetes.title;
  diabetes.code = "E11.9";
  std::int64_t main_term = writer.add_index_term(diabetes);
  IndexTermRow type2;
  type2.parent_id = main_term;
  type2.level = 1;
  type2.title = "type 2";
  type2.path = diabetes.title + " > type 2";
  type2.code = "E11.9";
  writer.add_index_term(type2);
  IndexTermRow type1 = type2;
  type1.title = "juvenile";
  type1.path = diabetes.title + " > juvenile";
  type1.code = "E10.9";
  writer.add_index_term(type1);
  IndexTermRow concussion;
  concussion.title = "Concussion (brain) (cerebral) (current)";
  concussion.path = concussion.title + " > with > loss of consciousness > brief";
  concussion.code = "S06.0X1";
  writer.add_index_term(concussion);
}

// ICD-10-CM 2023: injuries and diabetes. ICD-10-CM 2022: diabetes only, without E11.65.
inline void build(store::Database& db) {
  store::Transaction transaction(db);
  {
    ReleaseWriter writer(db, System::icd10cm, 2022, std::nullopt, nlohmann::json::array());
    add_diabetes(writer, false, " (2022)");
    writer.finish();
  }
  {
    ReleaseWriter writer(db, System::icd10cm, 2023, std::nullopt, nlohmann::json::array());
    add_injuries(writer);
    add_diabetes(writer, true, "");
    writer.finish();
  }
  transaction.commit();
}

// HCPCS 2019: one code with attributes and one modifier.
inline void build_hcpcs(store::Database& db) {
  store::Transaction transaction(db);
  ReleaseWriter writer(db, System::hcpcs, 2019, std::nullopt, nlohmann::json::array());
  CodeRow injection;
  injection.code = "J1234";
  injection.description = "Injection,\tsample drug";
  injection.billable = true;
  injection.attributes = nlohmann::json{{"coverage", "C"}};
  writer.add_code(injection);
  CodeRow modifier;
  modifier.code = "25";
  modifier.kind = "modifier";
  modifier.description = "Significant, separately identifiable evaluation and management service";
  writer.add_code(modifier);
  writer.finish();
  transaction.commit();
}

}  // namespace medcode::codes::sample
