// Recorded from @fal-ai/client 1.10.1, src/types/endpoints.d.ts
// (npm tarball integrity sha512-c3AVeH31OioiI2J1BfW8Cryi1DhUYldnY3X35nv6xLMq3fU2NQOo+eYaR5mL2O8MoHHh+HzXdQuIyanIyeq+ug==).
// Written by `python scripts/gen_catalog.py --refresh`; do not edit. Each offered endpoint's input
// type, copied verbatim with every alias it goes through.

// endpoint fal-ai/kling-video/v2.1/master/text-to-video input KlingVideoV21MasterTextToVideoInput
// endpoint fal-ai/kling-video/v2.1/master/image-to-video input KlingVideoV21MasterImageToVideoInput
// endpoint fal-ai/veo3.1 input Veo31Input
// endpoint fal-ai/veo3.1/image-to-video input Veo31ImageToVideoInput
// endpoint fal-ai/minimax/hailuo-02/standard/text-to-video input MinimaxHailuo02StandardTextToVideoInput
// endpoint fal-ai/minimax/hailuo-02/standard/image-to-video input MinimaxHailuo02StandardImageToVideoInput
// endpoint fal-ai/luma-dream-machine/ray-2 input LumaDreamMachineRay2Input
// endpoint fal-ai/luma-dream-machine/ray-2/image-to-video input LumaDreamMachineRay2ImageToVideoInput

export type KlingVideoV21MasterTextToVideoInput = KlingVideoV15ProTextToVideoInput;
export type KlingVideoV15ProTextToVideoInput = {
    /**
     * The aspect ratio of the generated video frame Default value: `"16:9"`
     */
    aspect_ratio?: "16:9" | "9:16" | "1:1";
    /**
     * The CFG (Classifier Free Guidance) scale is a measure of how close you want
     * the model to stick to your prompt. Default value: `0.5`
     */
    cfg_scale?: number;
    /**
     * The duration of the generated video in seconds Default value: `"5"`
     */
    duration?: "5" | "10";
    /**
     *  Default value: `"blur, distort, and low quality"`
     */
    negative_prompt?: string;
    /**
     *
     */
    prompt: string;
};
export type KlingVideoV21MasterImageToVideoInput = KlingVideoV2MasterImageToVideoInput;
export type KlingVideoV2MasterImageToVideoInput = {
    /**
     * The CFG (Classifier Free Guidance) scale is a measure of how close you want
     * the model to stick to your prompt. Default value: `0.5`
     */
    cfg_scale?: number;
    /**
     * The duration of the generated video in seconds Default value: `"5"`
     */
    duration?: "5" | "10";
    /**
     * URL of the image to be used for the video
     */
    image_url: string | Blob | File;
    /**
     *  Default value: `"blur, distort, and low quality"`
     */
    negative_prompt?: string;
    /**
     *
     */
    prompt: string;
};
export type Veo31Input = veo3Input;
export type veo3Input = {
    /**
     * The aspect ratio of the generated video. Default value: `"16:9"`
     */
    aspect_ratio?: "16:9" | "9:16";
    /**
     * Whether to automatically attempt to fix prompts that fail content policy or other validation checks by rewriting them. Default value: `true`
     */
    auto_fix?: boolean;
    /**
     * The duration of the generated video. Default value: `"8s"`
     */
    duration?: "4s" | "6s" | "8s";
    /**
     * Whether to generate audio for the video. Default value: `true`
     */
    generate_audio?: boolean;
    /**
     * A negative prompt to guide the video generation.
     */
    negative_prompt?: string;
    /**
     * The text prompt describing the video you want to generate
     */
    prompt: string;
    /**
     * The resolution of the generated video. Default value: `"720p"`
     */
    resolution?: "720p" | "1080p";
    /**
     * The safety tolerance level for content moderation. 1 is the most strict (blocks most content), 6 is the least strict. Default value: `"4"`
     */
    safety_tolerance?: "1" | "2" | "3" | "4" | "5" | "6";
    /**
     * The seed for the random number generator.
     */
    seed?: number;
};
export type Veo31ImageToVideoInput = Veo3ImageToVideoInput;
export type Veo3ImageToVideoInput = {
    /**
     * The aspect ratio of the generated video. Default value: `"auto"`
     */
    aspect_ratio?: "auto" | "16:9" | "9:16";
    /**
     * Whether to automatically attempt to fix prompts that fail content policy or other validation checks by rewriting them.
     */
    auto_fix?: boolean;
    /**
     * The duration of the generated video. Default value: `"8s"`
     */
    duration?: "4s" | "6s" | "8s";
    /**
     * Whether to generate audio for the video. Default value: `true`
     */
    generate_audio?: boolean;
    /**
     * URL of the input image to animate. Should be 720p or higher resolution in 16:9 or 9:16 aspect ratio. If the image is not in 16:9 or 9:16 aspect ratio, it will be cropped to fit.
     */
    image_url: string | Blob | File;
    /**
     * A negative prompt to guide the video generation.
     */
    negative_prompt?: string;
    /**
     * The text prompt describing how the image should be animated
     */
    prompt: string;
    /**
     * The resolution of the generated video. Default value: `"720p"`
     */
    resolution?: "720p" | "1080p";
    /**
     * The safety tolerance level for content moderation. 1 is the most strict (blocks most content), 6 is the least strict. Default value: `"4"`
     */
    safety_tolerance?: "1" | "2" | "3" | "4" | "5" | "6";
    /**
     * The seed for the random number generator.
     */
    seed?: number;
};
export type MinimaxHailuo02StandardTextToVideoInput = StandardTextToVideoHailuo02Input;
export type StandardTextToVideoHailuo02Input = {
    /**
     * The duration of the video in seconds. 10 seconds videos are not supported for 1080p resolution. Default value: `"6"`
     */
    duration?: "6" | "10";
    /**
     *
     */
    prompt: string;
    /**
     * Whether to use the model's prompt optimizer Default value: `true`
     */
    prompt_optimizer?: boolean;
};
export type MinimaxHailuo02StandardImageToVideoInput = StandardImageToVideoHailuo02Input;
export type StandardImageToVideoHailuo02Input = {
    /**
     * The duration of the video in seconds. 10 seconds videos are not supported for 1080p resolution. Default value: `"6"`
     */
    duration?: "6" | "10";
    /**
     * Optional URL of the image to use as the last frame of the video
     */
    end_image_url?: string | Blob | File;
    /**
     *
     */
    image_url: string | Blob | File;
    /**
     *
     */
    prompt: string;
    /**
     * Whether to use the model's prompt optimizer Default value: `true`
     */
    prompt_optimizer?: boolean;
    /**
     * The resolution of the generated video. Default value: `"768P"`
     */
    resolution?: "512P" | "768P";
};
export type LumaDreamMachineRay2Input = {
    /**
     * The aspect ratio of the generated video Default value: `"16:9"`
     */
    aspect_ratio?: "16:9" | "9:16" | "4:3" | "3:4" | "21:9" | "9:21";
    /**
     * The duration of the generated video (9s costs 2x more) Default value: `"5s"`
     */
    duration?: "5s" | "9s";
    /**
     * Whether the video should loop (end of video is blended with the beginning)
     */
    loop?: boolean;
    /**
     *
     */
    prompt: string;
    /**
     * The resolution of the generated video (720p costs 2x more, 1080p costs 4x more) Default value: `"540p"`
     */
    resolution?: "540p" | "720p" | "1080p";
};
export type LumaDreamMachineRay2ImageToVideoInput = {
    /**
     * The aspect ratio of the generated video Default value: `"16:9"`
     */
    aspect_ratio?: "16:9" | "9:16" | "4:3" | "3:4" | "21:9" | "9:21";
    /**
     * The duration of the generated video Default value: `"5s"`
     */
    duration?: "5s" | "9s";
    /**
     * Final image to end the video with. Can be used together with image_url.
     */
    end_image_url?: string | Blob | File;
    /**
     * Initial image to start the video from. Can be used together with end_image_url.
     */
    image_url?: string | Blob | File;
    /**
     * Whether the video should loop (end of video is blended with the beginning)
     */
    loop?: boolean;
    /**
     *
     */
    prompt: string;
    /**
     * The resolution of the generated video (720p costs 2x more, 1080p costs 4x more) Default value: `"540p"`
     */
    resolution?: "540p" | "720p" | "1080p";
};
