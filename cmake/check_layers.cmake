# The layers' include rules, checked on every build (cmake -P, from the custom target mg_layers):
# a source or header of a layer may include only its own layer's headers and those of the layers
# it stands on. A wrong-way include (db/ including service/http/, say) fails the build, naming
# the file, the line and the rule.
#
#   cmake -DSOURCE_DIR=<repo> -DSTAMP=<file> -P cmake/check_layers.cmake
#
# The rules, lowest layer first (README "Layers"):
cmake_minimum_required(VERSION 3.25)
set(MG_LAYERS common domain iamport db metrics runtime http payments notify api app)
set(MG_LAYER_common_DIR service/common)
set(MG_LAYER_common_USES "")
set(MG_LAYER_domain_DIR service/domain)
set(MG_LAYER_domain_USES common)
set(MG_LAYER_iamport_DIR service/iamport)
set(MG_LAYER_iamport_USES common domain)
set(MG_LAYER_db_DIR db)
set(MG_LAYER_db_USES common domain)
set(MG_LAYER_metrics_DIR service/metrics)
set(MG_LAYER_metrics_USES common)
set(MG_LAYER_runtime_DIR service/runtime)
set(MG_LAYER_runtime_USES common db)
set(MG_LAYER_http_DIR service/http)
set(MG_LAYER_http_USES common)
set(MG_LAYER_payments_DIR service/payments)
set(MG_LAYER_payments_USES common domain iamport db metrics runtime)
set(MG_LAYER_notify_DIR service/notify)
set(MG_LAYER_notify_USES common domain db metrics runtime)
set(MG_LAYER_api_DIR service/api)
set(MG_LAYER_api_USES common domain iamport db metrics runtime http payments notify)
set(MG_LAYER_app_DIR service/app)
set(MG_LAYER_app_USES common domain iamport db metrics runtime http payments notify api)

if(NOT SOURCE_DIR)
  message(FATAL_ERROR "check_layers: SOURCE_DIR not set")
endif()

# The layer a project path ("db/pool.hpp", "service/http/error.hpp") belongs to; "" for none.
function(mg_layer_of path out)
  set(found "")
  foreach(layer IN LISTS MG_LAYERS)
    string(LENGTH "${MG_LAYER_${layer}_DIR}/" prefix_length)
    string(SUBSTRING "${path}" 0 ${prefix_length} prefix)
    if(prefix STREQUAL "${MG_LAYER_${layer}_DIR}/")
      set(found ${layer})
    endif()
  endforeach()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

set(violations "")
foreach(layer IN LISTS MG_LAYERS)
  file(GLOB files ${SOURCE_DIR}/${MG_LAYER_${layer}_DIR}/*.cpp
       ${SOURCE_DIR}/${MG_LAYER_${layer}_DIR}/*.hpp)
  set(allowed ${layer} ${MG_LAYER_${layer}_USES})
  foreach(file IN LISTS files)
    file(STRINGS ${file} includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line IN LISTS includes)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" target "${line}")
      mg_layer_of("${target}" target_layer)
      if(target_layer STREQUAL "")
        continue()  # a generated or third-party header
      endif()
      if(NOT target_layer IN_LIST allowed)
        file(RELATIVE_PATH relative ${SOURCE_DIR} ${file})
        string(REPLACE ";" ", " allowed_text "${allowed}")
        string(APPEND violations "  ${relative}: #include \"${target}\": layer ${layer} may "
               "use only: ${allowed_text}\n")
      endif()
    endforeach()
  endforeach()
endforeach()

if(violations)
  message(FATAL_ERROR "wrong-way includes (cmake/check_layers.cmake):\n${violations}")
endif()
if(STAMP)
  file(TOUCH ${STAMP})
endif()
