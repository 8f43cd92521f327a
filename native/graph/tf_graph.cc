// affectlab's graph addon: the TensorFlow C graph/session API for Node, over the same
// libtensorflow that @tensorflow/tfjs-node's binding uses (it is linked against that package's
// deps/lib, so both share one loaded library).
//
// What it offers (src/core/engine/graph/addon.ts gives it types):
//   newGraph()                                    -> graph handle
//   addOperation(graph, type, name, inputs, attrs, controlInputs, device) -> number of outputs
//       inputs: array of "op:index" strings, or arrays of them for list inputs;
//       attrs:  array of [name, kind, value] (kinds below).
//   addGradients(graph, ys, xs, prefix)          -> "op:index" of dy/dx for each x ("" if none)
//   outputInfo(graph, "op:index")                -> { dtype, shape | null }
//   graphDef(graph)                              -> Buffer (a serialised GraphDef)
//   newSession(graph, configProto | null)        -> session handle
//   runSession(session, feedNames, feeds, fetchNames, targetNames) -> Promise<tensor[]>
//       feeds: { dtype, shape, data: TypedArray } (copied into a TF tensor once);
//       results: { dtype, shape, data: ArrayBuffer } whose memory is the TF tensor's own
//       (external, freed with the ArrayBuffer): no copy on the way out.
//   closeSession(session)
//   startupNoticesSpent()                        -> whether TensorFlow's absl notices were spent at load
// The step runs on a libuv worker thread, so the event loop (signals, reporters) stays live
// while TensorFlow computes.
#include <fcntl.h>
#include <unistd.h>
#include <node_api.h>
#include <tensorflow/c/c_api.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

#define CHECK_NAPI(env, call)                                        \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      ThrowLastError(env, #call);                                    \
      return nullptr;                                                \
    }                                                                \
  } while (0)

void ThrowLastError(napi_env env, const char* what) {
  const napi_extended_error_info* info = nullptr;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  std::string msg = std::string("tf_graph: ") + what + " failed";
  if (info && info->error_message) msg += std::string(": ") + info->error_message;
  napi_throw_error(env, nullptr, msg.c_str());
}

napi_value Throw(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

bool GetString(napi_env env, napi_value v, std::string* out) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) return false;
  out->resize(len);
  size_t written = 0;
  if (napi_get_value_string_utf8(env, v, &(*out)[0], len + 1, &written) != napi_ok) return false;
  out->resize(written);
  return true;
}

bool GetArrayLength(napi_env env, napi_value v, uint32_t* len) {
  bool is_array = false;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array) return false;
  return napi_get_array_length(env, v, len) == napi_ok;
}

bool GetDouble(napi_env env, napi_value v, double* out) {
  return napi_get_value_double(env, v, out) == napi_ok;
}

bool GetNumberArray(napi_env env, napi_value v, std::vector<int64_t>* out) {
  uint32_t n = 0;
  if (!GetArrayLength(env, v, &n)) return false;
  out->resize(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    double d;
    if (napi_get_element(env, v, i, &e) != napi_ok || !GetDouble(env, e, &d)) return false;
    (*out)[i] = static_cast<int64_t>(d);
  }
  return true;
}

// Handles: external values holding a heap struct, finalised by the GC.
struct GraphHandle {
  TF_Graph* graph;
};
struct SessionHandle {
  TF_Session* session;
  GraphHandle* graph;  // kept alive by the JS reference below
  napi_ref graph_ref;
  bool running;
};

void FinalizeGraph(napi_env, void* data, void*) {
  auto* h = static_cast<GraphHandle*>(data);
  // A graph still used by a session is released by TensorFlow when the session goes.
  TF_DeleteGraph(h->graph);
  delete h;
}

void CloseSessionHandle(SessionHandle* h) {
  if (!h->session) return;
  TF_Status* status = TF_NewStatus();
  TF_CloseSession(h->session, status);
  TF_DeleteSession(h->session, status);
  TF_DeleteStatus(status);
  h->session = nullptr;
}

void FinalizeSession(napi_env env, void* data, void*) {
  auto* h = static_cast<SessionHandle*>(data);
  CloseSessionHandle(h);
  if (h->graph_ref) napi_delete_reference(env, h->graph_ref);
  delete h;
}

template <typename T>
T* Unwrap(napi_env env, napi_value v, const char* what) {
  void* data = nullptr;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, v, &data) != napi_ok || !data) {
    napi_throw_type_error(env, nullptr, (std::string("tf_graph: expected a ") + what).c_str());
    return nullptr;
  }
  return static_cast<T*>(data);
}

// "name:index" (or "name") -> TF_Output; false with a message when the op does not exist.
bool ParseOutput(TF_Graph* graph, const std::string& ref, TF_Output* out, std::string* err) {
  std::string name = ref;
  int index = 0;
  size_t colon = ref.rfind(':');
  if (colon != std::string::npos) {
    name = ref.substr(0, colon);
    index = std::atoi(ref.c_str() + colon + 1);
  }
  TF_Operation* op = TF_GraphOperationByName(graph, name.c_str());
  if (!op) {
    *err = "no operation named '" + name + "' in the graph";
    return false;
  }
  if (index < 0 || index >= TF_OperationNumOutputs(op)) {
    *err = "operation '" + name + "' has no output " + std::to_string(index);
    return false;
  }
  out->oper = op;
  out->index = index;
  return true;
}

std::string OutputName(TF_Output o) {
  return std::string(TF_OperationName(o.oper)) + ":" + std::to_string(o.index);
}

size_t DTypeSize(TF_DataType t) { return TF_DataTypeSize(t); }

// A TF tensor with a copy of a JS typed array's bytes.
TF_Tensor* TensorFromJs(napi_env env, napi_value obj, std::string* err) {
  napi_value v_dtype, v_shape, v_data;
  double dtype_d;
  std::vector<int64_t> dims;
  if (napi_get_named_property(env, obj, "dtype", &v_dtype) != napi_ok ||
      !GetDouble(env, v_dtype, &dtype_d) ||
      napi_get_named_property(env, obj, "shape", &v_shape) != napi_ok ||
      !GetNumberArray(env, v_shape, &dims) ||
      napi_get_named_property(env, obj, "data", &v_data) != napi_ok) {
    *err = "a tensor needs { dtype, shape, data }";
    return nullptr;
  }
  bool is_typed = false;
  napi_is_typedarray(env, v_data, &is_typed);
  if (!is_typed) {
    *err = "tensor data must be a typed array";
    return nullptr;
  }
  napi_typedarray_type ta_type;
  size_t length;
  void* data;
  napi_value ab;
  size_t offset;
  napi_get_typedarray_info(env, v_data, &ta_type, &length, &data, &ab, &offset);
  auto dtype = static_cast<TF_DataType>(static_cast<int>(dtype_d));
  size_t elements = 1;
  for (int64_t d : dims) elements *= static_cast<size_t>(d);
  size_t bytes = elements * DTypeSize(dtype);
  size_t elem_size = 1;
  switch (ta_type) {
    case napi_float32_array: case napi_int32_array: case napi_uint32_array: elem_size = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem_size = 8; break;
    case napi_int16_array: case napi_uint16_array: elem_size = 2; break;
    default: elem_size = 1;
  }
  if (length * elem_size != bytes) {
    *err = "tensor data has " + std::to_string(length * elem_size) + " bytes, its shape needs " +
           std::to_string(bytes);
    return nullptr;
  }
  TF_Tensor* t = TF_AllocateTensor(dtype, dims.data(), static_cast<int>(dims.size()), bytes);
  if (!t) {
    *err = "could not allocate a tensor";
    return nullptr;
  }
  if (bytes) std::memcpy(TF_TensorData(t), data, bytes);
  return t;
}

void FinalizeTensorBuffer(napi_env, void*, void* hint) {
  TF_DeleteTensor(static_cast<TF_Tensor*>(hint));
}

// A result tensor as { dtype, shape, data: ArrayBuffer } over the tensor's own memory.
napi_value TensorToJs(napi_env env, TF_Tensor* t) {
  napi_value obj, v_dtype, v_shape, v_data;
  napi_create_object(env, &obj);
  napi_create_int32(env, static_cast<int32_t>(TF_TensorType(t)), &v_dtype);
  int nd = TF_NumDims(t);
  napi_create_array_with_length(env, nd, &v_shape);
  for (int i = 0; i < nd; i++) {
    napi_value d;
    napi_create_double(env, static_cast<double>(TF_Dim(t, i)), &d);
    napi_set_element(env, v_shape, i, d);
  }
  size_t bytes = TF_TensorByteSize(t);
  if (bytes == 0) {
    void* unused;
    napi_create_arraybuffer(env, 0, &unused, &v_data);
    TF_DeleteTensor(t);
  } else if (napi_create_external_arraybuffer(env, TF_TensorData(t), bytes, FinalizeTensorBuffer,
                                              t, &v_data) != napi_ok) {
    // runtimes that refuse external buffers get a copy
    void* copy;
    napi_create_arraybuffer(env, bytes, &copy, &v_data);
    std::memcpy(copy, TF_TensorData(t), bytes);
    TF_DeleteTensor(t);
  }
  napi_set_named_property(env, obj, "dtype", v_dtype);
  napi_set_named_property(env, obj, "shape", v_shape);
  napi_set_named_property(env, obj, "data", v_data);
  return obj;
}

napi_value NewGraph(napi_env env, napi_callback_info) {
  auto* h = new GraphHandle{TF_NewGraph()};
  napi_value out;
  CHECK_NAPI(env, napi_create_external(env, h, FinalizeGraph, nullptr, &out));
  return out;
}

// Sets one attribute; returns false (with err) on a malformed spec.
bool SetAttr(napi_env env, TF_OperationDescription* desc, napi_value spec, std::string* err) {
  uint32_t n = 0;
  if (!GetArrayLength(env, spec, &n) || n < 3) {
    *err = "an attribute is [name, kind, value]";
    return false;
  }
  napi_value v_name, v_kind, v_value;
  napi_get_element(env, spec, 0, &v_name);
  napi_get_element(env, spec, 1, &v_kind);
  napi_get_element(env, spec, 2, &v_value);
  std::string name, kind;
  if (!GetString(env, v_name, &name) || !GetString(env, v_kind, &kind)) {
    *err = "attribute name and kind must be strings";
    return false;
  }
  const char* a = name.c_str();
  if (kind == "int" || kind == "float" || kind == "bool" || kind == "type") {
    double d = 0;
    bool b = false;
    if (kind == "bool") {
      if (napi_get_value_bool(env, v_value, &b) != napi_ok) {
        *err = "attribute " + name + " needs a boolean";
        return false;
      }
      TF_SetAttrBool(desc, a, b ? 1 : 0);
      return true;
    }
    if (!GetDouble(env, v_value, &d)) {
      *err = "attribute " + name + " needs a number";
      return false;
    }
    if (kind == "int") TF_SetAttrInt(desc, a, static_cast<int64_t>(d));
    else if (kind == "float") TF_SetAttrFloat(desc, a, static_cast<float>(d));
    else TF_SetAttrType(desc, a, static_cast<TF_DataType>(static_cast<int>(d)));
    return true;
  }
  if (kind == "string") {
    std::string s;
    if (!GetString(env, v_value, &s)) {
      *err = "attribute " + name + " needs a string";
      return false;
    }
    TF_SetAttrString(desc, a, s.data(), s.size());
    return true;
  }
  if (kind == "shape") {
    napi_valuetype t;
    napi_typeof(env, v_value, &t);
    if (t == napi_null || t == napi_undefined) {
      TF_SetAttrShape(desc, a, nullptr, -1);  // unknown rank
      return true;
    }
    std::vector<int64_t> dims;
    if (!GetNumberArray(env, v_value, &dims)) {
      *err = "attribute " + name + " needs an array of dimensions";
      return false;
    }
    TF_SetAttrShape(desc, a, dims.data(), static_cast<int>(dims.size()));
    return true;
  }
  if (kind == "ints" || kind == "types") {
    std::vector<int64_t> values;
    if (!GetNumberArray(env, v_value, &values)) {
      *err = "attribute " + name + " needs an array of numbers";
      return false;
    }
    if (kind == "ints") {
      TF_SetAttrIntList(desc, a, values.data(), static_cast<int>(values.size()));
    } else {
      std::vector<TF_DataType> types(values.size());
      for (size_t i = 0; i < values.size(); i++) types[i] = static_cast<TF_DataType>(values[i]);
      TF_SetAttrTypeList(desc, a, types.data(), static_cast<int>(types.size()));
    }
    return true;
  }
  if (kind == "floats") {
    uint32_t len = 0;
    if (!GetArrayLength(env, v_value, &len)) {
      *err = "attribute " + name + " needs an array of numbers";
      return false;
    }
    std::vector<float> values(len);
    for (uint32_t i = 0; i < len; i++) {
      napi_value e;
      double d = 0;
      napi_get_element(env, v_value, i, &e);
      GetDouble(env, e, &d);
      values[i] = static_cast<float>(d);
    }
    TF_SetAttrFloatList(desc, a, values.data(), static_cast<int>(len));
    return true;
  }
  if (kind == "tensor") {
    TF_Tensor* t = TensorFromJs(env, v_value, err);
    if (!t) {
      *err = "attribute " + name + ": " + *err;
      return false;
    }
    TF_Status* status = TF_NewStatus();
    TF_SetAttrTensor(desc, a, t, status);
    bool ok = TF_GetCode(status) == TF_OK;
    if (!ok) *err = "attribute " + name + ": " + TF_Message(status);
    TF_DeleteStatus(status);
    TF_DeleteTensor(t);
    return ok;
  }
  *err = "unknown attribute kind '" + kind + "' for " + name;
  return false;
}

// addOperation(graph, type, name, inputs, attrs, controlInputs, device) -> number of outputs
napi_value AddOperation(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 5) return Throw(env, "tf_graph.addOperation needs (graph, type, name, inputs, attrs)");
  auto* g = Unwrap<GraphHandle>(env, argv[0], "graph");
  if (!g) return nullptr;
  std::string type, name, device;
  if (!GetString(env, argv[1], &type) || !GetString(env, argv[2], &name))
    return Throw(env, "tf_graph.addOperation: type and name must be strings");
  if (argc >= 7) {
    napi_valuetype t;
    napi_typeof(env, argv[6], &t);
    if (t == napi_string) GetString(env, argv[6], &device);
  }
  const std::string where = type + " '" + name + "': ";
  if (TF_GraphOperationByName(g->graph, name.c_str()))
    return Throw(env, where + "an operation of that name already exists");
  TF_OperationDescription* desc = TF_NewOperation(g->graph, type.c_str(), name.c_str());
  std::string err;
  // TF_FinishOperation must be called for every description, even a failed one; a bad spec is
  // reported after finishing it (its error, if any, is dropped in favour of ours).
  auto fail = [&](const std::string& msg) -> napi_value {
    TF_Status* status = TF_NewStatus();
    TF_Operation* op = TF_FinishOperation(desc, status);
    (void)op;
    TF_DeleteStatus(status);
    return Throw(env, where + msg);
  };
  uint32_t n_inputs = 0;
  if (!GetArrayLength(env, argv[3], &n_inputs)) return fail("inputs must be an array");
  for (uint32_t i = 0; i < n_inputs; i++) {
    napi_value e;
    napi_get_element(env, argv[3], i, &e);
    bool is_array = false;
    napi_is_array(env, e, &is_array);
    if (is_array) {
      uint32_t m = 0;
      napi_get_array_length(env, e, &m);
      std::vector<TF_Output> list(m);
      for (uint32_t j = 0; j < m; j++) {
        napi_value r;
        std::string ref;
        napi_get_element(env, e, j, &r);
        if (!GetString(env, r, &ref) || !ParseOutput(g->graph, ref, &list[j], &err))
          return fail("input " + std::to_string(i) + ": " + (err.empty() ? "not a string" : err));
      }
      TF_AddInputList(desc, list.data(), static_cast<int>(m));
    } else {
      std::string ref;
      TF_Output o;
      if (!GetString(env, e, &ref) || !ParseOutput(g->graph, ref, &o, &err))
        return fail("input " + std::to_string(i) + ": " + (err.empty() ? "not a string" : err));
      TF_AddInput(desc, o);
    }
  }
  uint32_t n_attrs = 0;
  if (!GetArrayLength(env, argv[4], &n_attrs)) return fail("attrs must be an array");
  for (uint32_t i = 0; i < n_attrs; i++) {
    napi_value spec;
    napi_get_element(env, argv[4], i, &spec);
    if (!SetAttr(env, desc, spec, &err)) return fail(err);
  }
  if (argc >= 6) {
    uint32_t n_control = 0;
    if (GetArrayLength(env, argv[5], &n_control)) {
      for (uint32_t i = 0; i < n_control; i++) {
        napi_value r;
        std::string ref;
        napi_get_element(env, argv[5], i, &r);
        if (!GetString(env, r, &ref)) return fail("control inputs must be operation names");
        TF_Operation* op = TF_GraphOperationByName(g->graph, ref.c_str());
        if (!op) return fail("control input: no operation named '" + ref + "'");
        TF_AddControlInput(desc, op);
      }
    }
  }
  if (!device.empty()) TF_SetDevice(desc, device.c_str());
  TF_Status* status = TF_NewStatus();
  TF_Operation* op = TF_FinishOperation(desc, status);
  if (TF_GetCode(status) != TF_OK) {
    std::string msg = where + TF_Message(status);
    TF_DeleteStatus(status);
    return Throw(env, msg);
  }
  TF_DeleteStatus(status);
  napi_value out;
  napi_create_int32(env, TF_OperationNumOutputs(op), &out);
  return out;
}

bool ParseOutputList(napi_env env, TF_Graph* graph, napi_value arr, std::vector<TF_Output>* out,
                     std::string* err) {
  uint32_t n = 0;
  if (!GetArrayLength(env, arr, &n)) {
    *err = "expected an array of \"op:index\" names";
    return false;
  }
  out->resize(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    std::string ref;
    napi_get_element(env, arr, i, &e);
    if (!GetString(env, e, &ref) || !ParseOutput(graph, ref, &(*out)[i], err)) return false;
  }
  return true;
}

// addGradients(graph, ys, xs, prefix) -> names of d(sum ys)/d(xs)
napi_value AddGradients(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 4) return Throw(env, "tf_graph.addGradients needs (graph, ys, xs, prefix)");
  auto* g = Unwrap<GraphHandle>(env, argv[0], "graph");
  if (!g) return nullptr;
  std::vector<TF_Output> ys, xs;
  std::string err, prefix;
  if (!ParseOutputList(env, g->graph, argv[1], &ys, &err) ||
      !ParseOutputList(env, g->graph, argv[2], &xs, &err))
    return Throw(env, "addGradients: " + err);
  GetString(env, argv[3], &prefix);
  std::vector<TF_Output> dy(xs.size());
  TF_Status* status = TF_NewStatus();
  TF_AddGradientsWithPrefix(g->graph, prefix.empty() ? nullptr : prefix.c_str(), ys.data(),
                            static_cast<int>(ys.size()), xs.data(), static_cast<int>(xs.size()),
                            nullptr, status, dy.data());
  if (TF_GetCode(status) != TF_OK) {
    std::string msg = std::string("addGradients: ") + TF_Message(status);
    TF_DeleteStatus(status);
    return Throw(env, msg);
  }
  TF_DeleteStatus(status);
  napi_value out;
  napi_create_array_with_length(env, xs.size(), &out);
  for (size_t i = 0; i < xs.size(); i++) {
    napi_value s;
    // a gradient TF could not reach (no path) comes back with a null operation
    std::string name = dy[i].oper ? OutputName(dy[i]) : "";
    napi_create_string_utf8(env, name.c_str(), name.size(), &s);
    napi_set_element(env, out, i, s);
  }
  return out;
}

// outputInfo(graph, "op:index") -> { dtype, shape: number[] | null }
napi_value OutputInfo(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* g = argc >= 2 ? Unwrap<GraphHandle>(env, argv[0], "graph") : nullptr;
  if (!g) return nullptr;
  std::string ref, err;
  TF_Output o;
  if (!GetString(env, argv[1], &ref) || !ParseOutput(g->graph, ref, &o, &err))
    return Throw(env, "outputInfo: " + err);
  TF_Status* status = TF_NewStatus();
  int nd = TF_GraphGetTensorNumDims(g->graph, o, status);
  napi_value obj, v_dtype, v_shape;
  napi_create_object(env, &obj);
  napi_create_int32(env, static_cast<int32_t>(TF_OperationOutputType(o)), &v_dtype);
  if (TF_GetCode(status) != TF_OK || nd < 0) {
    napi_get_null(env, &v_shape);
  } else {
    std::vector<int64_t> dims(nd);
    TF_GraphGetTensorShape(g->graph, o, dims.data(), nd, status);
    napi_create_array_with_length(env, nd, &v_shape);
    for (int i = 0; i < nd; i++) {
      napi_value d;
      napi_create_double(env, static_cast<double>(dims[i]), &d);
      napi_set_element(env, v_shape, i, d);
    }
  }
  TF_DeleteStatus(status);
  napi_set_named_property(env, obj, "dtype", v_dtype);
  napi_set_named_property(env, obj, "shape", v_shape);
  return obj;
}

napi_value GraphDef(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* g = argc >= 1 ? Unwrap<GraphHandle>(env, argv[0], "graph") : nullptr;
  if (!g) return nullptr;
  TF_Buffer* buf = TF_NewBuffer();
  TF_Status* status = TF_NewStatus();
  TF_GraphToGraphDef(g->graph, buf, status);
  if (TF_GetCode(status) != TF_OK) {
    std::string msg = std::string("graphDef: ") + TF_Message(status);
    TF_DeleteStatus(status);
    TF_DeleteBuffer(buf);
    return Throw(env, msg);
  }
  napi_value out;
  void* copy;
  napi_create_buffer_copy(env, buf->length, buf->data, &copy, &out);
  TF_DeleteStatus(status);
  TF_DeleteBuffer(buf);
  return out;
}

// The bytes of a typed-array argument (a serialised proto); false when it is not one.
bool TypedArrayBytes(napi_env env, napi_value value, std::string* out) {
  bool is_typed = false;
  napi_is_typedarray(env, value, &is_typed);
  if (!is_typed) return false;
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  napi_value buffer;
  napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, &offset);
  out->assign(static_cast<const char*>(data), length);
  return true;
}

// newSession(graph, configProto: Uint8Array | null)
napi_value NewSession(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* g = argc >= 1 ? Unwrap<GraphHandle>(env, argv[0], "graph") : nullptr;
  if (!g) return nullptr;
  TF_SessionOptions* opts = TF_NewSessionOptions();
  TF_Status* status = TF_NewStatus();
  std::string config;
  if (argc >= 2) {
    if (TypedArrayBytes(env, argv[1], &config)) {
      TF_SetConfig(opts, config.data(), config.size(), status);
      if (TF_GetCode(status) != TF_OK) {
        std::string msg = std::string("newSession: bad ConfigProto: ") + TF_Message(status);
        TF_DeleteStatus(status);
        TF_DeleteSessionOptions(opts);
        return Throw(env, msg);
      }
    }
  }
  TF_Session* session = TF_NewSession(g->graph, opts, status);
  TF_DeleteSessionOptions(opts);
  if (TF_GetCode(status) != TF_OK) {
    std::string msg = std::string("newSession: ") + TF_Message(status);
    TF_DeleteStatus(status);
    return Throw(env, msg);
  }
  TF_DeleteStatus(status);
  auto* h = new SessionHandle{session, g, nullptr, false};
  napi_create_reference(env, argv[0], 1, &h->graph_ref);
  napi_value out;
  CHECK_NAPI(env, napi_create_external(env, h, FinalizeSession, nullptr, &out));
  return out;
}

napi_value CloseSession(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* h = argc >= 1 ? Unwrap<SessionHandle>(env, argv[0], "session") : nullptr;
  if (!h) return nullptr;
  if (h->running) return Throw(env, "closeSession: a run is still in progress");
  CloseSessionHandle(h);
  return nullptr;
}

struct RunWork {
  SessionHandle* session;
  napi_ref session_ref;
  napi_async_work work;
  napi_deferred deferred;
  std::vector<TF_Output> inputs;
  std::vector<TF_Tensor*> input_values;
  std::vector<TF_Output> outputs;
  std::vector<TF_Tensor*> output_values;
  std::vector<TF_Operation*> targets;
  // serialised RunOptions (e.g. trace_level FULL_TRACE); empty: none. With it, the run's
  // RunMetadata comes back as the result array's `runMetadata` Buffer.
  std::string run_options;
  std::string run_metadata;
  TF_Code code;
  std::string message;
};

void ExecuteRun(napi_env, void* data) {
  auto* w = static_cast<RunWork*>(data);
  TF_Status* status = TF_NewStatus();
  TF_Buffer* options = nullptr;
  TF_Buffer* metadata = nullptr;
  if (!w->run_options.empty()) {
    options = TF_NewBufferFromString(w->run_options.data(), w->run_options.size());
    metadata = TF_NewBuffer();
  }
  TF_SessionRun(w->session->session, options, w->inputs.data(), w->input_values.data(),
                static_cast<int>(w->inputs.size()), w->outputs.data(), w->output_values.data(),
                static_cast<int>(w->outputs.size()), w->targets.data(),
                static_cast<int>(w->targets.size()), metadata, status);
  if (metadata) {
    w->run_metadata.assign(static_cast<const char*>(metadata->data), metadata->length);
    TF_DeleteBuffer(metadata);
  }
  if (options) TF_DeleteBuffer(options);
  w->code = TF_GetCode(status);
  if (w->code != TF_OK) w->message = TF_Message(status);
  TF_DeleteStatus(status);
}

void CompleteRun(napi_env env, napi_status, void* data) {
  auto* w = static_cast<RunWork*>(data);
  w->session->running = false;
  for (TF_Tensor* t : w->input_values) TF_DeleteTensor(t);
  if (w->code != TF_OK) {
    for (TF_Tensor* t : w->output_values)
      if (t) TF_DeleteTensor(t);
    napi_value msg, err, code;
    std::string text = "TensorFlow session run failed: " + w->message;
    napi_create_string_utf8(env, text.c_str(), text.size(), &msg);
    napi_create_error(env, nullptr, msg, &err);
    napi_create_int32(env, static_cast<int32_t>(w->code), &code);
    napi_set_named_property(env, err, "tfCode", code);
    napi_reject_deferred(env, w->deferred, err);
  } else {
    napi_value arr;
    napi_create_array_with_length(env, w->output_values.size(), &arr);
    for (size_t i = 0; i < w->output_values.size(); i++)
      napi_set_element(env, arr, i, TensorToJs(env, w->output_values[i]));
    if (!w->run_options.empty()) {
      napi_value meta;
      void* copy;
      napi_create_buffer_copy(env, w->run_metadata.size(), w->run_metadata.data(), &copy, &meta);
      napi_set_named_property(env, arr, "runMetadata", meta);
    }
    napi_resolve_deferred(env, w->deferred, arr);
  }
  napi_delete_async_work(env, w->work);
  napi_delete_reference(env, w->session_ref);
  delete w;
}

// runSession(session, feedNames, feeds, fetchNames, targetNames[, runOptions]) -> Promise<tensor[]>
napi_value RunSession(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 5) return Throw(env, "tf_graph.runSession needs 5 arguments");
  auto* s = Unwrap<SessionHandle>(env, argv[0], "session");
  if (!s) return nullptr;
  if (!s->session) return Throw(env, "runSession: the session is closed");
  if (s->running) return Throw(env, "runSession: another run of this session is in progress");
  std::unique_ptr<RunWork> w(new RunWork());
  w->session = s;
  std::string err;
  TF_Graph* graph = s->graph->graph;
  if (!ParseOutputList(env, graph, argv[1], &w->inputs, &err))
    return Throw(env, "runSession feeds: " + err);
  uint32_t n_feeds = 0;
  if (!GetArrayLength(env, argv[2], &n_feeds) || n_feeds != w->inputs.size())
    return Throw(env, "runSession: one tensor per feed name");
  for (uint32_t i = 0; i < n_feeds; i++) {
    napi_value e;
    napi_get_element(env, argv[2], i, &e);
    TF_Tensor* t = TensorFromJs(env, e, &err);
    if (!t) {
      for (TF_Tensor* x : w->input_values) TF_DeleteTensor(x);
      return Throw(env, "runSession feed " + OutputName(w->inputs[i]) + ": " + err);
    }
    w->input_values.push_back(t);
  }
  auto cleanup = [&]() {
    for (TF_Tensor* x : w->input_values) TF_DeleteTensor(x);
    w->input_values.clear();
  };
  if (!ParseOutputList(env, graph, argv[3], &w->outputs, &err)) {
    cleanup();
    return Throw(env, "runSession fetches: " + err);
  }
  w->output_values.assign(w->outputs.size(), nullptr);
  uint32_t n_targets = 0;
  if (!GetArrayLength(env, argv[4], &n_targets)) {
    cleanup();
    return Throw(env, "runSession: targets must be an array of operation names");
  }
  for (uint32_t i = 0; i < n_targets; i++) {
    napi_value e;
    std::string name;
    napi_get_element(env, argv[4], i, &e);
    TF_Operation* op = GetString(env, e, &name) ? TF_GraphOperationByName(graph, name.c_str())
                                                : nullptr;
    if (!op) {
      cleanup();
      return Throw(env, "runSession target: no operation named '" + name + "'");
    }
    w->targets.push_back(op);
  }
  if (argc >= 6) TypedArrayBytes(env, argv[5], &w->run_options);
  napi_value promise, resource_name;
  CHECK_NAPI(env, napi_create_promise(env, &w->deferred, &promise));
  napi_create_string_utf8(env, "affectlab.tf_graph.run", NAPI_AUTO_LENGTH, &resource_name);
  napi_create_reference(env, argv[0], 1, &w->session_ref);
  CHECK_NAPI(env, napi_create_async_work(env, nullptr, resource_name, ExecuteRun, CompleteRun,
                                         w.get(), &w->work));
  s->running = true;
  CHECK_NAPI(env, napi_queue_async_work(env, w->work));
  w.release();
  return promise;
}

napi_value Version(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_string_utf8(env, TF_Version(), NAPI_AUTO_LENGTH, &out);
  return out;
}

// TensorFlow 2.18 logs two notices through absl the first time a session runs a graph
// (`WARNING: All log messages before absl::InitializeLog() ...` and `I0000 ...
// mlir_graph_optimization_pass.cc:401] MLIR V1 optimization pass is not enabled`).
// TF_CPP_MIN_LOG_LEVEL does not reach that logger, and libtensorflow_cc's copy of absl exports
// no switch. The notice is logged once per process, so when TF_CPP_MIN_LOG_LEVEL asks for less
// than INFO, the addon runs one trivial graph at load with fd 2 pointed at /dev/null: the
// notice is spent there. Nothing else writes to stderr meanwhile (Node is inside this call).
bool g_quieted = false;

void RunTrivialGraph() {
  TF_Status* status = TF_NewStatus();
  TF_Graph* graph = TF_NewGraph();
  TF_Tensor* value = TF_AllocateTensor(TF_FLOAT, nullptr, 0, sizeof(float));
  *static_cast<float*>(TF_TensorData(value)) = 0.0f;
  TF_OperationDescription* c = TF_NewOperation(graph, "Const", "affectlab_quiet_c");
  TF_SetAttrTensor(c, "value", value, status);
  TF_SetAttrType(c, "dtype", TF_FLOAT);
  TF_Operation* constant = TF_FinishOperation(c, status);
  TF_DeleteTensor(value);
  if (TF_GetCode(status) == TF_OK) {
    TF_OperationDescription* d = TF_NewOperation(graph, "Identity", "affectlab_quiet_i");
    TF_AddInput(d, TF_Output{constant, 0});
    TF_Operation* identity = TF_FinishOperation(d, status);
    TF_SessionOptions* options = TF_NewSessionOptions();
    TF_Session* session =
        TF_GetCode(status) == TF_OK ? TF_NewSession(graph, options, status) : nullptr;
    TF_DeleteSessionOptions(options);
    if (session != nullptr && TF_GetCode(status) == TF_OK) {
      TF_Output fetch{identity, 0};
      TF_Tensor* out = nullptr;
      TF_SessionRun(session, nullptr, nullptr, nullptr, 0, &fetch, &out, 1, nullptr, 0, nullptr,
                    status);
      if (out != nullptr) TF_DeleteTensor(out);
    }
    if (session != nullptr) {
      TF_CloseSession(session, status);
      TF_DeleteSession(session, status);
    }
  }
  TF_DeleteGraph(graph);
  TF_DeleteStatus(status);
}

void SpendStartupNotices() {
  const char* level = std::getenv("TF_CPP_MIN_LOG_LEVEL");
  if (level == nullptr || level[0] < '1' || level[0] > '3' || level[1] != '\0') return;
  std::fflush(stderr);
  int saved = dup(2);
  int sink = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (saved < 0 || sink < 0 || dup2(sink, 2) < 0) {
    if (saved >= 0) close(saved);
    if (sink >= 0) close(sink);
    return;
  }
  RunTrivialGraph();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(sink);
  g_quieted = true;
}

napi_value Quieted(napi_env env, napi_callback_info) {
  napi_value out;
  napi_get_boolean(env, g_quieted, &out);
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  SpendStartupNotices();
  napi_property_descriptor props[] = {
      {"newGraph", nullptr, NewGraph, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addOperation", nullptr, AddOperation, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addGradients", nullptr, AddGradients, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"outputInfo", nullptr, OutputInfo, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"graphDef", nullptr, GraphDef, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"newSession", nullptr, NewSession, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"closeSession", nullptr, CloseSession, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"runSession", nullptr, RunSession, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"tfVersion", nullptr, Version, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"startupNoticesSpent", nullptr, Quieted, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
