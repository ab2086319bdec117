# Writes OUT: a C++ file defining FUNCTION() returning the migrations in FILES.
# File names are NNNN_description.sql; NNNN is the version.
set(body "// Generated from the service's migrations/ folder. Do not edit.\n#include \"kefu/db/db.h\"\n\n")
string(APPEND body "const std::vector<kefu::db::Migration>& ${FUNCTION}() {\n  static const auto* m = new std::vector<kefu::db::Migration>{\n")
foreach(f ${FILES})
  get_filename_component(name ${f} NAME)
  string(REGEX MATCH "^[0-9]+" version ${name})
  math(EXPR version "${version} + 0")
  file(READ ${f} sql)
  string(APPEND body "    {${version}, \"${name}\", R\"kefu_sql(${sql})kefu_sql\"},\n")
endforeach()
string(APPEND body "  };\n  return *m;\n}\n")
file(WRITE ${OUT} "${body}")
